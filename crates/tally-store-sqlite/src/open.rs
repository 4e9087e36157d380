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

/// A Tally store in one SQLite database. Cloning shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqliteStoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open_with(options).await
    }

    /// Opens `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    pub async fn open_url(url: &str) -> Result<Self, SqliteStoreError> {
        if url == "sqlite::memory:" {
            return Self::open_in_memory().await;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| SqliteStoreError::InvalidUrl(err.to_string()))?
            .create_if_missing(true);
        Self::open_with(options).await
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
        })
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, SqliteStoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit waits for the WAL fsync, so an acknowledged write
            // survives power loss too, not only a process crash (docs/storage.md).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let writer = pool(options.clone(), 1).await?;
        // Migrate before readers open: they are read-only.
        migrate(&writer).await?;
        let reader = pool(options.read_only(true), READERS).await?;
        Ok(Self { writer, reader })
    }

    /// Closes both pools, waiting for connections to finish (checkpointing the WAL
    /// when the last one closes).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

async fn pool(options: SqliteConnectOptions, size: u32) -> Result<SqlitePool, SqliteStoreError> {
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
