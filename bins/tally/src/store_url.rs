//! Opening a store from a `--database-url`: the one place the binary names a
//! backend. Each backend parses its own URL and runs its migrations at open.

use std::sync::Arc;

use anyhow::{Context, bail};
use tally_store::{MemoryStore, Store};

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tally.db";

/// Opens `sqlite://path` (created if missing), `sqlite::memory:`,
/// `postgres://…` / `postgresql://…`, or `memory:` (process memory, for demos).
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if url.starts_with("sqlite:") {
        let store = tally_store_sqlite::SqliteStore::open_url(url)
            .await
            .with_context(|| format!("cannot open {}", redact(url)))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = tally_store_postgres::PgStore::connect(url)
            .await
            .with_context(|| format!("cannot open {}", redact(url)))?;
        return Ok(Arc::new(store));
    }
    bail!(
        "unsupported database url {}: use sqlite://PATH, postgres://… or memory:",
        redact(url)
    )
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
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
            redact("postgres://tally:secret@db:5432/tally"),
            "postgres://tally:***@db:5432/tally"
        );
        assert_eq!(
            redact("postgres://tally:p@ss@db/tally"),
            "postgres://tally:***@db/tally"
        );
        assert_eq!(redact("sqlite://tally.db"), "sqlite://tally.db");
    }
}
