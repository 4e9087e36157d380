//! The crate's one integration-test binary.

mod aggregators;
mod filters;
mod formulas;
mod support;
