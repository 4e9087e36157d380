//! The SQLite backend of the Tally store: the embedded default.
//!
//! This crate will implement the `tally-store` traits with sqlx on a SQLite file in
//! WAL mode, with embedded migrations run at open, runtime-checked `query_as` into row
//! structs, and aggregations pushed down to SQL where the filter allows it.
