//! Opening a database: connection options, pools, migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a connection waits on a lock held by another process before
/// `SQLITE_BUSY` (`Unavailable`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections: enough to keep both cores busy with queries while the
/// writer commits.
const READERS: u32 = 4;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The URL does not parse as a SQLite URL.
    #[error("invalid sqlite url: {0}")]
    InvalidUrl(String),
    /// The file cannot be created or opened, or a connection setting was refused.
    #[error("cannot open sqlite database: {0}")]
    Open(#[source] sqlx::Error),
    /// The schema could not be brought up to date (e.g. the file is from a newer build).
    #[error("cannot migrate sqlite database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connection settings that trade memory for writes (docs/storage.md, "Page
/// cache and checkpoints").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The writer connection's page cache, in MiB; each reader gets a quarter
    /// of it. The writer's cache holds the index pages that random keys dirty:
    /// SQLite's default (2 MiB) makes it read them back for every batch.
    pub cache_mib: u32,
    /// Pages in the WAL before a commit checkpoints it into the database: a
    /// page dirtied by many commits in between is written to the database once.
    pub wal_autocheckpoint_pages: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            cache_mib: 64,
            wal_autocheckpoint_pages: 16_384,
        }
    }
}

/// The store's settings on `options`: WAL, `synchronous=FULL`, the busy
/// timeout, the page cache and the checkpoint interval.
pub(crate) fn connect_options(
    options: SqliteConnectOptions,
    settings: &SqliteOptions,
) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit waits for the WAL fsync, so an acknowledged write
        // survives power loss too, not only a process crash (docs/storage.md).
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", cache_pragma(settings.cache_mib))
        // Statement journals (a multi-row INSERT that may stop midway keeps
        // one) in memory rather than in a temporary file written per batch.
        .pragma("temp_store", "memory")
        .pragma(
            "wal_autocheckpoint",
            settings.wal_autocheckpoint_pages.to_string(),
        )
}

/// `cache_size` in KiB (a negative value means KiB to SQLite).
fn cache_pragma(mib: u32) -> String {
    format!("-{}", u64::from(mib.max(1)) * 1024)
}

/// A Tally store in one SQLite database. Cloning shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Compiled rollup definitions, by rollup id.
    pub(crate) compiler: std::sync::Arc<tally_store::rollups::RollupCompiler>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqliteStoreError> {
        Self::open_with_options(path, &SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit connection settings.
    pub async fn open_with_options(
        path: impl AsRef<Path>,
        settings: &SqliteOptions,
    ) -> Result<Self, SqliteStoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open_with(options, settings).await
    }

    /// Opens `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    pub async fn open_url(url: &str) -> Result<Self, SqliteStoreError> {
        Self::open_url_with_options(url, &SqliteOptions::default()).await
    }

    /// [`SqliteStore::open_url`] with explicit connection settings.
    pub async fn open_url_with_options(
        url: &str,
        settings: &SqliteOptions,
    ) -> Result<Self, SqliteStoreError> {
        if url == "sqlite::memory:" {
            return Self::open_in_memory().await;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| SqliteStoreError::InvalidUrl(err.to_string()))?
            .create_if_missing(true);
        Self::open_with(options, settings).await
    }

    /// A private in-memory database, gone when the store is dropped.
    pub async fn open_in_memory() -> Result<Self, SqliteStoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|err| SqliteStoreError::InvalidUrl(err.to_string()))?;
        // One connection: each in-memory connection would be its own database.
        let pool = pool(options, 1).await?;
        migrate(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            compiler: Default::default(),
        })
    }

    async fn open_with(
        options: SqliteConnectOptions,
        settings: &SqliteOptions,
    ) -> Result<Self, SqliteStoreError> {
        let writer = pool(connect_options(options.clone(), settings), 1).await?;
        // Migrate before readers open: they are read-only.
        migrate(&writer).await?;
        let reader_settings = SqliteOptions {
            cache_mib: (settings.cache_mib / 4).max(1),
            ..*settings
        };
        let readers = connect_options(options, &reader_settings).read_only(true);
        let reader = pool(readers, READERS).await?;
        Ok(Self {
            writer,
            reader,
            compiler: Default::default(),
        })
    }

    /// Closes both pools, waiting for connections to finish (checkpointing the WAL
    /// when the last one closes).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

pub(crate) async fn pool(
    options: SqliteConnectOptions,
    size: u32,
) -> Result<SqlitePool, SqliteStoreError> {
    SqlitePoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        // Idle connections are kept: an in-memory database lives in its connection.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .map_err(SqliteStoreError::Open)
}

async fn migrate(pool: &SqlitePool) -> Result<(), SqliteStoreError> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(SqliteStoreError::Migrate)
}

impl SqliteStore {
    /// A write transaction on the writer connection. `BEGIN IMMEDIATE` takes the
    /// write lock up front, so a transaction that reads before it writes cannot
    /// fail to upgrade when another process writes.
    pub(crate) async fn begin_write(
        &self,
    ) -> tally_store::StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(crate::error::db_err("transaction"))
    }
}
