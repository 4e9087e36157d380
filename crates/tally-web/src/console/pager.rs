//! Pages of a list: `?page=N`, from 1, with links to the previous and the
//! next page.

use maud::{Markup, html};
use tally_billing::Pagination;

/// One page of a list of `per_page` items a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pager {
    number: u32,
    per_page: u32,
}

impl Pager {
    /// The page a `page` parameter names: the first when it is absent or
    /// blank, `None` when it is not a whole number from 1.
    pub(super) fn parse(text: Option<&str>, per_page: u32) -> Option<Self> {
        let number = match text.map(str::trim) {
            None | Some("") => 1,
            Some(text) => text.parse().ok().filter(|n| *n >= 1)?,
        };
        Some(Pager { number, per_page })
    }

    /// The first page.
    pub(super) fn first(per_page: u32) -> Self {
        Pager {
            number: 1,
            per_page,
        }
    }

    /// The store's page.
    pub(super) fn pagination(&self) -> Pagination {
        let skip = i64::from(self.number - 1) * i64::from(self.per_page);
        Pagination::new(i64::from(self.per_page), skip)
    }

    /// How many pages `total` items fill (at least one).
    fn pages(&self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.per_page)).max(1)
    }

    /// "Page N of M" with the previous and next links; `link` makes the
    /// address of a page number.
    pub(super) fn nav(&self, total: u64, link: impl Fn(u32) -> String) -> Markup {
        let pages = self.pages(total);
        let number = u64::from(self.number);
        html! {
            nav.pager aria-label="Pages" {
                @if self.number > 1 {
                    a rel="prev" href=(link(self.number - 1)) { "← Previous" }
                }
                span { "Page " (number) " of " (pages) }
                @if number < pages {
                    a rel="next" href=(link(self.number + 1)) { "Next →" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_parameter_is_a_whole_number_from_one() {
        let page = |text| Pager::parse(text, 50).map(|p| p.number);
        assert_eq!(page(None), Some(1));
        assert_eq!(page(Some(" ")), Some(1));
        assert_eq!(page(Some("3")), Some(3));
        for bad in ["0", "-1", "x", "1.5", "99999999999"] {
            assert_eq!(page(Some(bad)), None, "{bad}");
        }
        let third = Pager::parse(Some("3"), 50).unwrap();
        assert_eq!(third.pagination(), Pagination::new(50, 100));
    }

    #[test]
    fn the_links_stop_at_the_first_and_the_last_page() {
        let nav = |number: &str, total| {
            let pager = Pager::parse(Some(number), 50).unwrap();
            pager.nav(total, |n| format!("?page={n}")).into_string()
        };
        let first = nav("1", 120);
        assert!(first.contains("Page 1 of 3") && first.contains("?page=2"));
        assert!(!first.contains("rel=\"prev\""));
        let last = nav("3", 120);
        assert!(last.contains("?page=2") && !last.contains("rel=\"next\""));
        assert!(nav("1", 0).contains("Page 1 of 1"));
    }
}
