//! Opening a store: a SQLite file, process memory, or a database URL. The one
//! place outside the backends that names them, so that neither `tally-billing`
//! nor an embedding program has to.

use std::path::Path;
use std::sync::Arc;

use tally_store::{MemoryStore, Store};
use tally_store_sqlite::{SqliteOptions, SqliteStore, SqliteStoreError};

/// The database of `tally serve` when none is given: a SQLite file in the
/// working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tally.db";

/// Why a store could not be opened. URLs in messages have their password
/// replaced by `***` ([`redact_url`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A command that only works on existing data named a SQLite file that
    /// does not exist ([`open_existing_store`]).
    #[error("no database at {0}: check --database-url")]
    Missing(String),
    /// The URL names no backend this build knows.
    #[error("unsupported database url {0}: use sqlite://PATH, postgres://… or memory:")]
    UnsupportedUrl(String),
    /// A `postgres://` URL in a build without the `postgres` feature.
    #[error("{0} needs tally-engine's `postgres` feature")]
    PostgresDisabled(String),
    /// The SQLite file could not be created, opened or migrated.
    #[error("cannot open {target}")]
    Sqlite {
        /// The path or redacted URL.
        target: String,
        /// What SQLite or the migration said.
        #[source]
        source: SqliteStoreError,
    },
    /// The PostgreSQL server refused the connection or the migration.
    #[cfg(feature = "postgres")]
    #[error("cannot open {target}")]
    Postgres {
        /// The redacted URL.
        target: String,
        /// What the backend reported.
        #[source]
        source: tally_store::StoreError,
    },
}

/// An empty store in process memory, gone when the last `Arc` is dropped
/// (tests, demos, property-based suites).
pub fn open_memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// The SQLite database at `path`, created if missing and migrated to the
/// current schema. Writes are durable once they return (WAL,
/// `synchronous=FULL`); several processes may open the same file.
///
/// # Errors
///
/// [`OpenError::Sqlite`] when the file cannot be created or opened, or its
/// schema is newer than this build's.
pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Arc<dyn Store>, OpenError> {
    let path = path.as_ref();
    match SqliteStore::open(path).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(source) => Err(OpenError::Sqlite {
            target: path.display().to_string(),
            source,
        }),
    }
}

/// Opens a store from a URL, as `tally serve --database-url` does:
///
/// - `sqlite://PATH` or `sqlite:PATH` (created if missing), `sqlite::memory:`;
/// - `postgres://…` or `postgresql://…` (with the `postgres` feature);
/// - `memory:`, process memory (see [`open_memory`]).
///
/// Every backend runs its migrations at open.
///
/// # Errors
///
/// [`OpenError::UnsupportedUrl`] for another scheme,
/// [`OpenError::PostgresDisabled`] for a PostgreSQL URL in a build without the
/// feature, and the backend's error when it cannot open the database.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_store_with(url, &SqliteOptions::default()).await
}

/// [`open_store`] for commands that read or change existing data (exports,
/// purges): a `sqlite:` URL naming a file that does not exist is
/// [`OpenError::Missing`] instead of a new empty database, so a mistyped
/// path fails instead of answering from nothing.
pub async fn open_existing_store(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    if let Some(path) = sqlite_file(url) {
        if !path.exists() {
            return Err(OpenError::Missing(redact_url(url)));
        }
    }
    open_store(url).await
}

/// The file a `sqlite:` URL names (`sqlite://PATH`, `sqlite:PATH`, without
/// its `?options`); none for `sqlite::memory:` and other backends.
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// [`open_store`] with the SQLite connection settings `sqlite` (page cache,
/// checkpoint interval; other backends ignore them).
pub async fn open_store_with(
    url: &str,
    sqlite: &SqliteOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    if url == "memory:" {
        return Ok(open_memory());
    }
    if url.starts_with("sqlite:") {
        return match SqliteStore::open_url_with_options(url, sqlite).await {
            Ok(store) => Ok(Arc::new(store)),
            Err(source) => Err(OpenError::Sqlite {
                target: redact_url(url),
                source,
            }),
        };
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(url).await;
    }
    Err(OpenError::UnsupportedUrl(redact_url(url)))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    match tally_store_postgres::PgStore::connect(url).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(source) => Err(OpenError::Postgres {
            target: redact_url(url),
            source,
        }),
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::PostgresDisabled(redact_url(url)))
}

/// The URL without its password, for messages and logs:
/// `postgres://tally:***@db/tally`. A URL without credentials is returned as is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last `@` ends the credentials: a password may hold one.
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://tally:secret@db:5432/tally"),
            "postgres://tally:***@db:5432/tally"
        );
        assert_eq!(
            redact_url("postgres://tally:p@ss@db/tally"),
            "postgres://tally:***@db/tally"
        );
        assert_eq!(redact_url("sqlite://tally.db"), "sqlite://tally.db");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/t.db"),
            Some(Path::new("data/t.db"))
        );
        assert_eq!(sqlite_file("sqlite:t.db?mode=rwc"), Some(Path::new("t.db")));
        assert_eq!(
            sqlite_file("sqlite:///abs/t.db"),
            Some(Path::new("/abs/t.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/tally"), None);
        assert_eq!(sqlite_file("memory:"), None);
    }

    #[tokio::test]
    async fn a_missing_file_is_not_created_for_existing_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("typo.db");
        let url = format!("sqlite://{}", path.display());
        let error = open_existing_store(&url).await.err().expect("no such file");
        assert!(matches!(error, OpenError::Missing(_)), "{error}");
        assert!(!path.exists(), "nothing was created");
        open_store(&url).await.expect("created on purpose");
        open_existing_store(&url).await.expect("now it exists");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_their_password() {
        let error = open_store("mysql://root:hunter2@db/tally")
            .await
            .err()
            .expect("mysql is not a backend");
        assert!(matches!(error, OpenError::UnsupportedUrl(_)));
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[tokio::test]
    async fn a_sqlite_url_opens_a_file_that_keeps_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = open_store(&url).await.expect("open");
        let billing = tally_billing::Billing::new(store);
        let first = billing.ensure_account("default").await.expect("account");
        let again = tally_billing::Billing::new(open_store(&url).await.expect("reopen"));
        let second = again.ensure_account("default").await.expect("account");
        assert_eq!(first.id, second.id);
    }
}
