//! Accounts and API keys from the command line: the first-start bootstrap of
//! `tally serve` and `tally keys create`.

use std::sync::Arc;

use anyhow::Context;
use tally_billing::Billing;
use tally_engine::DEFAULT_ACCOUNT;
use tally_event::Timestamp;
use tally_store::{Account, ApiKey, ApiKeyHash, ApiKeyId, Store, generate_api_key_secret};

/// A key registered by a command; `secret` is set when the key was generated
/// here and must be shown to the user once.
#[derive(Debug)]
pub struct IssuedKey {
    pub account: Account,
    pub secret: Option<String>,
}

fn now() -> anyhow::Result<Timestamp> {
    Timestamp::from_datetime(chrono::Utc::now())
        .context("the system clock is outside years 1970..=9999")
}

/// The account named `name`, created if missing (the same rule as an
/// embedding program's, `Billing::ensure_account`).
pub async fn ensure_account(store: &Arc<dyn Store>, name: &str) -> anyhow::Result<Account> {
    Billing::new(store.clone())
        .ensure_account(name)
        .await
        .with_context(|| format!("cannot create account {name}"))
}

/// Registers the key whose clear form is `secret` for `account`.
pub async fn register_key(
    store: &dyn Store,
    account: &Account,
    secret: &str,
) -> anyhow::Result<()> {
    let key = ApiKey {
        id: ApiKeyId::random(),
        account_id: account.id.clone(),
        hash: ApiKeyHash::of_secret(secret),
        created_at: now()?,
    };
    store
        .create_api_key(&key)
        .await
        .with_context(|| format!("cannot create an api key for account {}", account.name))?;
    Ok(())
}

/// Creates a new key for the account named `name` (and the account if needed).
pub async fn create_key(store: &Arc<dyn Store>, name: &str) -> anyhow::Result<IssuedKey> {
    let account = ensure_account(store, name).await?;
    let secret = generate_api_key_secret(&mut rand::rng());
    register_key(store.as_ref(), &account, &secret).await?;
    Ok(IssuedKey {
        account,
        secret: Some(secret),
    })
}

/// At start: on an empty database, creates the `default` account with a new key
/// (or with `bootstrap`, the key given by `TALLY_BOOTSTRAP_API_KEY`). With
/// `bootstrap` on a database that has accounts, makes sure that key works, for
/// the `default` account, so scripts can restart the server with the same key.
pub async fn bootstrap(
    store: &Arc<dyn Store>,
    bootstrap: Option<&str>,
) -> anyhow::Result<Option<IssuedKey>> {
    let empty = store.list_accounts().await?.is_empty();
    match bootstrap {
        Some(secret) => {
            if store
                .find_api_key(&ApiKeyHash::of_secret(secret))
                .await?
                .is_some()
            {
                return Ok(None);
            }
            let account = ensure_account(store, DEFAULT_ACCOUNT).await?;
            register_key(store.as_ref(), &account, secret).await?;
            Ok(Some(IssuedKey {
                account,
                secret: None,
            }))
        }
        None if empty => create_key(store, DEFAULT_ACCOUNT).await.map(Some),
        None => Ok(None),
    }
}
