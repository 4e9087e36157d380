//! [`Engine`]: a [`Billing`] service and the account it acts in, which is all
//! a single-tenant program needs to call every use case.

use std::path::Path;
use std::sync::Arc;

use tally_billing::{Billing, BillingError};
use tally_store::{Account, AccountId, Store};
use tally_webhooks::WebhookWorker;

use crate::open::{OpenError, open_memory, open_sqlite, open_store};

/// The account an [`Engine`] opens when not told otherwise; also the account
/// `tally serve` creates on an empty database, so a program and the server
/// can share a SQLite file.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Why an [`Engine`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The account could not be found or created.
    #[error("cannot prepare account {name}")]
    Account {
        /// The account name asked for.
        name: String,
        /// What the store said.
        #[source]
        source: BillingError,
    },
}

/// A [`Billing`] service over an open store, and the [`Account`] it acts in.
///
/// Every use case is a method of [`Billing`] taking the account first:
/// `engine.billing().create_invoice(engine.account(), …)`. The engine adds no
/// method of its own on top, so the table in [`tally_billing`]'s docs is the
/// whole API. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    billing: Billing,
    account: Account,
    /// Delivers the store's webhook messages while the engine lives
    /// (docs/webhooks.md); its settings are the billing service's.
    webhooks: Arc<WebhookWorker>,
}

impl Engine {
    /// An engine over an empty store in process memory, in the
    /// [`DEFAULT_ACCOUNT`].
    ///
    /// # Errors
    ///
    /// [`EngineError::Account`] only if the memory store refuses the account,
    /// which it does not do on a fresh store.
    pub async fn memory() -> Result<Engine, EngineError> {
        Engine::start(Billing::new(open_memory()), DEFAULT_ACCOUNT).await
    }

    /// An engine over the SQLite database at `path` (created if missing), in
    /// the [`DEFAULT_ACCOUNT`] (created if missing).
    ///
    /// # Errors
    ///
    /// [`EngineError::Open`] when the file cannot be opened or migrated,
    /// [`EngineError::Account`] when the account cannot be read or created.
    pub async fn sqlite(path: impl AsRef<Path>) -> Result<Engine, EngineError> {
        let store = open_sqlite(path).await?;
        Engine::start(Billing::new(store), DEFAULT_ACCOUNT).await
    }

    /// An engine over the store a URL names (see [`open_store`]), in the
    /// [`DEFAULT_ACCOUNT`] (created if missing).
    ///
    /// # Errors
    ///
    /// As [`Engine::sqlite`], plus the URL errors of [`open_store`].
    pub async fn open(url: &str) -> Result<Engine, EngineError> {
        let store = open_store(url).await?;
        Engine::start(Billing::new(store), DEFAULT_ACCOUNT).await
    }

    /// An engine over a store opened elsewhere, in the account named
    /// `account` (created if missing). Also how a test builds a
    /// [`Billing`] with a fixed clock and seeded ids
    /// ([`Billing::with_parts`]) and still gets an account. Starts the
    /// background work: rollups, thresholds, and the webhook worker with the service's
    /// settings ([`Billing::with_webhooks`]; `allow_private_urls` lets
    /// endpoints reach this machine and its network).
    ///
    /// # Errors
    ///
    /// [`EngineError::Account`] when the name is blank or the store cannot
    /// read or create the account.
    pub async fn start(billing: Billing, account: &str) -> Result<Engine, EngineError> {
        match billing.ensure_account(account).await {
            Ok(account) => {
                // Rollups of aggregators made earlier, and any backfill left
                // unfinished, resume in the background.
                billing.start_rollups().await;
                // Thresholds whose evaluation a stop cut short are
                // evaluated; a failure leaves reads and writes working and
                // is kept for `Billing::threshold_error`.
                if let Err(error) = billing.start_thresholds().await {
                    billing.record_threshold_error(error.to_string());
                }
                let webhooks = Arc::new(tally_webhooks::start(&billing));
                Ok(Engine {
                    billing,
                    account,
                    webhooks,
                })
            }
            Err(source) => Err(EngineError::Account {
                name: account.to_owned(),
                source,
            }),
        }
    }

    /// Stops the webhook worker once the attempts in flight end (each
    /// within its timeout) and waits for queued ingestion writes: what a
    /// program calls before it exits. Messages not yet delivered stay in
    /// the store for the next start. Dropping every clone of the engine
    /// without it stops the worker at once; its attempts in flight are then
    /// made again after their lease.
    pub async fn shutdown(&self) {
        self.webhooks.shutdown().await;
        self.billing.flush_ingest().await;
    }

    /// The service every use case is a method of.
    pub fn billing(&self) -> &Billing {
        &self.billing
    }

    /// The id of the account the engine acts in: the first argument of every
    /// [`Billing`] method.
    pub fn account(&self) -> &AccountId {
        &self.account.id
    }

    /// The whole account record (name, settings, creation time).
    pub fn account_record(&self) -> &Account {
        &self.account
    }

    /// The store under the service, for what [`Billing`] does not cover
    /// (API keys, other accounts).
    pub fn store(&self) -> &Arc<dyn Store> {
        self.billing.store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn engines_over_one_store_share_the_default_account() {
        let store = open_memory();
        let first = Engine::start(Billing::new(store.clone()), DEFAULT_ACCOUNT)
            .await
            .expect("first start");
        let second = Engine::start(Billing::new(store), DEFAULT_ACCOUNT)
            .await
            .expect("second start");
        assert_eq!(first.account(), second.account());
        assert_eq!(first.account_record().name, DEFAULT_ACCOUNT);
    }

    #[tokio::test]
    async fn a_blank_account_name_is_refused() {
        let error = Engine::start(Billing::new(open_memory()), "  ")
            .await
            .err()
            .expect("a blank name has no account");
        match error {
            EngineError::Account { source, .. } => {
                assert_eq!(source.code().as_str(), "invalid_request")
            }
            other => panic!("expected an account error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_memory_url_opens_an_empty_store() {
        let engine = Engine::open("memory:").await.expect("memory engine");
        let customers = engine
            .billing()
            .list_customers(engine.account(), Default::default())
            .await
            .expect("list");
        assert_eq!(customers.total, 0);
    }
}
