//! Integration tests of tally-event: one binary, one module per concern.

mod fixtures;
mod props;
mod rules;
mod support;
