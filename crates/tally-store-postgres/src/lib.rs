//! The PostgreSQL backend of the Tally store: production, many server replicas.
//!
//! This crate will implement the `tally-store` traits with sqlx on PostgreSQL, with
//! embedded migrations, JSONB records, and nothing that must be unique kept only in
//! one process's memory (invoice numbers included).
