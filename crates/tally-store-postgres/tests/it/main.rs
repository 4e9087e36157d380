//! The one integration test binary of the PostgreSQL backend: the shared
//! conformance suite, PostgreSQL-specific checks, the migration of a v1
//! database, and the harness's own tests.
//! Every test runs against a database of its own on a throwaway server, or on
//! the server `TALLY_TEST_POSTGRES_URL` names (see `harness`).

mod backend;
mod filter_pushdown;
mod harness;
mod harness_tests;
mod migration;

use std::sync::Arc;

use tally_store::conformance::StoreUnderTest;
use tally_store_postgres::PgStore;

/// Pool size per test store: enough for the concurrency checks, small enough
/// for many tests to share one server.
const TEST_POOL_SIZE: u32 = 8;

/// A migrated store on a fresh database; the database lives as long as the guard.
async fn open_test_store() -> StoreUnderTest {
    let db = harness::fresh_database().await;
    let store = PgStore::connect_with(db.options.clone(), TEST_POOL_SIZE)
        .await
        .unwrap_or_else(|err| panic!("cannot open the store on {}: {err}", db.name));
    StoreUnderTest {
        store: Arc::new(store),
        guard: Box::new(db),
    }
}

mod conformance {
    tally_store::store_conformance_tests!(crate::open_test_store());
}
