//! The crate's one integration-test binary.

mod aggregators;
mod definitions;
mod filters;
mod fixtures;
mod formulas;
mod props;
mod support;
mod timeseries;
