//! Offset pagination shared by every list call.

use crate::error::{StoreError, StoreResult};

/// Largest `take` a list call accepts; the API refuses more with a 400 before
/// calling the store, and stores refuse it with `InvalidInput`.
pub const MAX_TAKE: u32 = 100;

/// Which slice of a list to return: skip `skip` items, then take at most `take`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items, 0..=[`MAX_TAKE`].
    pub take: u32,
    /// Items skipped before the first one returned.
    pub skip: u64,
}

impl PageRequest {
    /// Refuses a page larger than the API allows (`InvalidInput`): every
    /// backend checks a list call's page with this before reading.
    pub fn check(self) -> StoreResult<()> {
        if self.take > MAX_TAKE {
            return Err(StoreError::InvalidInput(format!(
                "take must be at most {MAX_TAKE}"
            )));
        }
        Ok(())
    }

    /// The checked page as SQL `LIMIT` and `OFFSET`; an offset past `i64::MAX`
    /// is past the end of any table.
    pub fn limit_offset(self) -> StoreResult<(i64, i64)> {
        self.check()?;
        let offset = i64::try_from(self.skip).unwrap_or(i64::MAX);
        Ok((i64::from(self.take), offset))
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { take: 50, skip: 0 }
    }
}

/// One page of a list and the number of items matching in total (all pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// How many items match, over every page.
    pub total: u64,
    /// This page's items, in the list's order.
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Paginates an already filtered and ordered list (the in-memory store's way).
    pub fn slice(all: Vec<T>, request: PageRequest) -> Self {
        let total = all.len() as u64;
        let skip = usize::try_from(request.skip).unwrap_or(usize::MAX);
        let items = all
            .into_iter()
            .skip(skip)
            .take(request.take as usize)
            .collect();
        Self { total, items }
    }
}

/// Sort direction of an event list, by (timestamp, event type, record id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}
