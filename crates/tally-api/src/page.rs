//! Paginated responses: `{"meta": {"total", "taken", "skipped"}, "data": [...]}`.
//! The query side (`take` 0..=100, default 50; `skip` ≥ 0; out of range is a 400)
//! is checked by `tally-billing`'s `Pagination`.

use serde::Serialize;
use tally_store::{Page, PageRequest};
use utoipa::ToSchema;

/// Page metadata, as in Hyperline's paginated lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct PageMeta {
    /// Items matching in total (all pages).
    pub total: u64,
    /// Items in this page.
    pub taken: u64,
    /// Items skipped before this page.
    pub skipped: u64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Paginated<T> {
    /// The counts: total, taken, skipped.
    pub meta: PageMeta,
    /// This page's items.
    pub data: Vec<T>,
}

impl<T> Paginated<T> {
    /// Converts a store page, mapping each item to its wire form.
    pub fn from_page<U>(page: Page<U>, request: PageRequest, map: impl FnMut(U) -> T) -> Self {
        let data: Vec<T> = page.items.into_iter().map(map).collect();
        Paginated {
            meta: PageMeta {
                total: page.total,
                taken: data.len() as u64,
                skipped: request.skip,
            },
            data,
        }
    }
}
