//! Aggregation (pending).
