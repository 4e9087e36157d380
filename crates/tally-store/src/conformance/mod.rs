//! The conformance suite every backend runs (feature `conformance`).
//!
//! Each check is a public async function taking the store under test; it creates
//! its own accounts, so checks can share one database. A backend's test crate
//! runs them all with one macro line, given an expression that opens a fresh
//! store (a future of [`StoreUnderTest`]):
//!
//! ```text
//! tally_store::store_conformance_tests!(crate::open_test_store());
//! ```
//!
//! The generated tests use `#[tokio::test]`, so the backend needs `tokio` (with
//! `macros` and `rt-multi-thread`) as a dev-dependency. Checks panic with a
//! message naming what diverged.

mod catalog;
mod concurrency;
mod entitlements;
mod evaluator;
mod events;
mod fixtures;
mod groups;
mod idempotency;
mod invoice_periods;
mod isolation;
mod rollups;
mod thresholds;
mod versions;
mod webhooks;

use std::any::Any;
use std::sync::Arc;

pub use catalog::{
    accounts_and_keys, catalog_round_trips, customers_crud, find_customers_in_bulk,
    invoices_lifecycle, resolve_or_create_customers_in_bulk,
};
pub use concurrency::{customer_auto_create_concurrent, invoice_numbers_gapless_concurrent};
pub use entitlements::{entitlements_round_trip, features_round_trip};
pub use evaluator::{
    aggregates_agree_with_evaluator, aggregates_on_fixed_filters, aggregates_read_exact_numbers,
    strings_compare_by_bytes,
};
pub use events::{
    customer_moves, delete_events, list_filters_and_order, pagination_edges,
    stream_order_and_window, time_series_reads, upsert_outcomes, upsert_resubmitted,
};
pub use fixtures::{at, event, new_account, new_customer, record};
pub use groups::{upsert_event_groups_in_order, upsert_event_groups_many};
pub use idempotency::{
    idempotency_abandoned_reclaim, idempotency_account_isolation,
    idempotency_claim_complete_replay, idempotency_claim_concurrent, idempotency_delete_expired,
    idempotency_expiry, idempotency_release,
};
pub use invoice_periods::{
    invoice_batch, invoice_one_per_subscription_period, invoice_period_concurrent,
};
pub use isolation::tenant_isolation;
pub use rollups::{rollups_agree_with_evaluator, rollups_build_serve_and_retire};
pub use thresholds::threshold_states_compare_and_set;
pub use versions::{purge_erases_history, versions_agree_with_model, versions_and_history};
pub use webhooks::{
    webhook_claim_concurrent, webhook_claim_lease_and_retry, webhook_claim_per_endpoint_limit,
    webhook_dispatch_follows_subscriptions, webhook_endpoints_crud,
    webhook_invoice_events_in_transaction, webhook_messages_list,
};

use crate::traits::Store;

/// A store to test and whatever must live as long as it (a temporary directory,
/// a database server).
pub struct StoreUnderTest {
    /// The store under test, as the engine uses it.
    pub store: Arc<dyn Store>,
    /// Dropped after the store: a temporary directory, a database server.
    pub guard: Box<dyn Any + Send + Sync>,
}

impl StoreUnderTest {
    /// A store that needs nothing kept alive (the in-memory store).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            guard: Box::new(()),
        }
    }
}

/// Generates one test per conformance check. `$open` is an expression evaluating
/// to a future of [`StoreUnderTest`]; it is evaluated once per test.
#[macro_export]
macro_rules! store_conformance_tests {
    ($open:expr) => {
        $crate::store_conformance_tests!(@each $open;
            upsert_outcomes,
            upsert_resubmitted,
            upsert_event_groups_in_order,
            upsert_event_groups_many,
            customer_moves,
            list_filters_and_order,
            pagination_edges,
            delete_events,
            stream_order_and_window,
            time_series_reads,
            tenant_isolation,
            accounts_and_keys,
            customers_crud,
            find_customers_in_bulk,
            resolve_or_create_customers_in_bulk,
            catalog_round_trips,
            features_round_trip,
            entitlements_round_trip,
            threshold_states_compare_and_set,
            invoices_lifecycle,
            invoice_numbers_gapless_concurrent,
            invoice_one_per_subscription_period,
            invoice_period_concurrent,
            invoice_batch,
            customer_auto_create_concurrent,
            aggregates_agree_with_evaluator,
            aggregates_on_fixed_filters,
            aggregates_read_exact_numbers,
            strings_compare_by_bytes,
            versions_and_history,
            purge_erases_history,
            versions_agree_with_model,
            rollups_agree_with_evaluator,
            rollups_build_serve_and_retire,
            idempotency_claim_complete_replay,
            idempotency_release,
            idempotency_abandoned_reclaim,
            idempotency_expiry,
            idempotency_delete_expired,
            idempotency_account_isolation,
            idempotency_claim_concurrent,
            webhook_endpoints_crud,
            webhook_dispatch_follows_subscriptions,
            webhook_claim_lease_and_retry,
            webhook_claim_per_endpoint_limit,
            webhook_claim_concurrent,
            webhook_invoice_events_in_transaction,
            webhook_messages_list
        );
    };
    (@each $open:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let under_test: $crate::conformance::StoreUnderTest = $open.await;
            $crate::conformance::$check(&under_test.store).await;
        }
    )*};
}
