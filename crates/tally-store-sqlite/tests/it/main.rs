//! Integration tests of the SQLite store: the conformance suite on a file
//! database and on an in-memory one, and the kill -9 durability test.

mod durability;

/// A new database at `path` with only its first `migrations` migrations run:
/// the schema an older build left behind, for the upgrade tests.
async fn database_at_version(path: &std::path::Path, migrations: usize) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.migrations = std::borrow::Cow::Owned(migrator.migrations[..migrations].to_vec());
    migrator.run(&pool).await.unwrap();
    pool
}

mod migrate_v1;
mod migrate_v8;
mod raw;
mod stored_text;

mod conformance_file {
    use std::sync::Arc;

    use tally_store::conformance::StoreUnderTest;
    use tally_store_sqlite::SqliteStore;

    async fn open_file_store() -> StoreUnderTest {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("tally.db"))
            .await
            .unwrap();
        StoreUnderTest {
            store: Arc::new(store),
            guard: Box::new(dir),
        }
    }

    tally_store::store_conformance_tests!(open_file_store());
}

mod conformance_memory {
    use std::sync::Arc;

    use tally_store::conformance::StoreUnderTest;
    use tally_store_sqlite::SqliteStore;

    async fn open_memory_store() -> StoreUnderTest {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        StoreUnderTest::new(Arc::new(store))
    }

    tally_store::store_conformance_tests!(open_memory_store());
}
