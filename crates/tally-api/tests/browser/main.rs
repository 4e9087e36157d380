//! The customer portal in a real browser: the real router on a loopback
//! port, headless Chromium driven through chromedriver (fantoccini), every
//! page checked with axe-core in light and dark mode at 375 and 1440 px and
//! pictured (docs/testing.md, "Browser tests").
//!
//! `harness` is the whole API a test needs; one module per page.

// The API tests' app (accounts, keys, clock); some of its helpers are theirs
// alone.
#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;

mod console;
mod downloads;
mod explorer;
mod harness;
mod portal;
mod seed;
