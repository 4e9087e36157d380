//! Tally aggregation (in progress).
