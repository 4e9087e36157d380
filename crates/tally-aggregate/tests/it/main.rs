//! The crate's one integration-test binary.

mod aggregators;
mod definitions;
mod filters;
mod fixtures;
mod formulas;
mod props;
mod rollups;
mod support;
mod timeseries;
