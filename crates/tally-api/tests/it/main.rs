//! The API's integration tests: the real router, in process, over a `MemoryStore`.

mod auth;
mod limits;
mod scenarios;
mod support;
mod system;
