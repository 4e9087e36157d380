//! The delivery worker against a real receiver on 127.0.0.1: signatures,
//! retries and their backoff, the final `failed` state, manual retries,
//! timeouts, the per-endpoint limit and the private-address rule.

mod delivery;
mod receiver;
