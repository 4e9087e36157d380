//! The conformance suite against the in-memory store, and the traits' defaults.

mod defaults;

use std::sync::Arc;

use tally_store::MemoryStore;
use tally_store::conformance::StoreUnderTest;

async fn open_memory_store() -> StoreUnderTest {
    StoreUnderTest::new(Arc::new(MemoryStore::new()))
}

tally_store::store_conformance_tests!(open_memory_store());
