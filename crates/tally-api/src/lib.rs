//! Tally's HTTP API: the axum router, handlers, auth, rate limits, errors and OpenAPI.
//!
//! This crate will expose `router(state) -> Router` over the `tally-billing` use
//! cases. Request and response types live here; the core crates never see HTTP.
