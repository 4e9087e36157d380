//! The PostgreSQL backend of the Tally store: production, several server replicas
//! sharing one database.
//!
//! [`PgStore`] implements every `tally-store` trait with sqlx: migrations embedded
//! and run at open, runtime-checked `query_as` into row structs converted to
//! domain types, and [`map_sqlx_error`] as the one place where database errors
//! become `StoreError`s. Nothing that must be unique lives in one process's
//! memory: keys are enforced by constraints, the invoice number and each
//! account's event sequence number are counter rows locked inside the writing
//! transaction, and customers auto-created by concurrent events meet at a
//! unique constraint. `docs/storage.md` describes the schema, the upsert and
//! what is computed in SQL.

#![warn(missing_docs)]

mod accounts;
mod catalog;
mod customers;
mod entitlements;
mod error;
mod events;
pub mod filter_sql;
mod idempotency;
mod invoices;
mod rows;
mod scoped;
mod subscriptions;
mod thresholds;
mod webhooks;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tally_store::{StoreError, StoreResult};

pub use error::map_sqlx_error;

/// Connections a store opens unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A Tally store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Compiled rollup definitions, by rollup id.
    compiler: std::sync::Arc<tally_store::rollups::RollupCompiler>,
}

impl PgStore {
    /// Connects to `postgres://…` and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::InvalidInput(format!("postgres url: {err}")))?;
        Self::connect_with(options, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects with explicit options and pool size, then migrates.
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .map_err(map_sqlx_error)?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, migrating its database first. Migrations take a
    /// database-wide advisory lock, so servers starting together do not race.
    pub async fn from_pool(pool: PgPool) -> StoreResult<Self> {
        MIGRATOR.run(&pool).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(err) => map_sqlx_error(err),
            other => StoreError::Internal(format!("migration failed: {other}")),
        })?;
        Ok(Self {
            pool,
            compiler: Default::default(),
        })
    }

    /// The connection pool, for callers that need raw access (tests, administration).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
