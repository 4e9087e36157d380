//! The account a use case acts in, for callers that have no API key to find
//! it by: an embedding program, the first start of `tally serve`.

use tally_store::{Account, AccountId, ApiKey, ApiKeyHash, ApiKeyId, StoreError};

use crate::error::{BillingError, BillingResult, Problems};
use crate::service::Billing;
use crate::settings::AccountSettings;

impl Billing {
    /// The account named `name`, created with default settings if there is
    /// none. Idempotent: a single-tenant program calls it at every start and
    /// gets the same account back.
    ///
    /// # Errors
    ///
    /// `Invalid` (`/name`: `empty`) for a blank name; `Store` when the store
    /// cannot be read or written.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tally_billing::{Billing, BillingError};
    /// use tally_store::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BillingError> {
    /// let billing = Billing::new(Arc::new(MemoryStore::new()));
    /// let first = billing.ensure_account("default").await?;
    /// let again = billing.ensure_account("default").await?;
    /// assert_eq!(first.id, again.id);
    ///
    /// let blank = billing.ensure_account(" ").await;
    /// assert_eq!(blank.unwrap_err().code().as_str(), "invalid_request");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ensure_account(&self, name: &str) -> BillingResult<Account> {
        if name.trim().is_empty() {
            return Err(BillingError::invalid(
                "/name",
                "empty",
                "an account needs a name",
            ));
        }
        if let Some(account) = self.store.find_account_by_name(name).await? {
            return Ok(account);
        }
        let account = Account {
            id: self.ids.with(AccountId::generate),
            name: name.to_owned(),
            settings: serde_json::Value::Object(Default::default()),
            created_at: self.now(),
        };
        match self.store.create_account(&account).await {
            Ok(created) => Ok(created),
            // Another process created it between the lookup and the insert:
            // theirs is the account.
            Err(StoreError::Conflict { .. }) => self
                .store
                .find_account_by_name(name)
                .await?
                .ok_or_else(|| BillingError::conflict("account", "account id taken")),
            Err(error) => Err(error.into()),
        }
    }
}

/// The settings a request may set (docs/billing.md, "Account settings").
const SETTING_KEYS: [&str; 3] = ["pii_policy", "max_future_skew_ms", "auto_create_customers"];

impl Billing {
    /// Changes some of the account's settings: `patch` is an object of
    /// settings to set (`null` puts one back to its default). Every problem
    /// is reported at once (`unknown_field` for a key that is not a setting,
    /// and the setting's own checks); nothing is written then. The change
    /// applies to this service at once, to other replicas within
    /// [`crate::SETTINGS_CACHE_MS`].
    pub async fn update_account_settings(
        &self,
        account: &AccountId,
        patch: &serde_json::Value,
    ) -> BillingResult<AccountSettings> {
        let Some(patch) = patch.as_object() else {
            return Err(BillingError::invalid(
                "",
                "invalid_type",
                "settings must be an object",
            ));
        };
        let mut problems = Problems::default();
        for key in patch.keys().filter(|k| !SETTING_KEYS.contains(&k.as_str())) {
            problems.push(
                format!("/{key}"),
                "unknown_field",
                format!(
                    "unknown setting `{key}`: expected one of {}",
                    SETTING_KEYS.join(", ")
                ),
            );
        }
        // A new skew fits a signed 64-bit integer, as every JSON reader can
        // take it (stored settings beyond it, from before, still load).
        let skew = patch
            .get("max_future_skew_ms")
            .and_then(serde_json::Value::as_u64);
        if skew.is_some_and(|ms| i64::try_from(ms).is_err()) {
            problems.push(
                "/max_future_skew_ms",
                "out_of_range",
                "must be at most 9223372036854775807 milliseconds",
            );
        }
        problems.finish()?;
        let stored = self.store.get_account(account).await?;
        let mut merged = match stored.settings {
            serde_json::Value::Object(object) => object,
            _ => serde_json::Map::new(),
        };
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(key);
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
        let merged = serde_json::Value::Object(merged);
        let settings = AccountSettings::from_json(&merged)?;
        self.store.update_account_settings(account, &merged).await?;
        self.forget_settings(account);
        Ok(settings)
    }

    /// The account's API keys, oldest first (ids and creation instants: the
    /// secrets are never stored).
    pub async fn api_keys(&self, account: &AccountId) -> BillingResult<Vec<ApiKey>> {
        Ok(self.store.list_api_keys(account).await?)
    }

    /// The key a clear secret is (as presented in `Authorization: Bearer …`
    /// or typed into the console's sign-in form): found by its hash, as the
    /// API's authentication finds it; `None` when no account has it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tally_billing::Billing;
    /// use tally_store::{ApiKey, ApiKeyHash, ApiKeyId, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let billing = Billing::new(Arc::new(MemoryStore::new()));
    /// let account = billing.ensure_account("default").await?;
    /// let key = ApiKey {
    ///     id: ApiKeyId::random(),
    ///     account_id: account.id.clone(),
    ///     hash: ApiKeyHash::of_secret("tally_sk_example"),
    ///     created_at: billing.now(),
    /// };
    /// billing.store().create_api_key(&key).await?;
    ///
    /// let found = billing.find_api_key("tally_sk_example").await?.unwrap();
    /// assert_eq!((found.account_id, found.id), (account.id, key.id));
    /// assert!(billing.find_api_key("tally_sk_other").await?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn find_api_key(&self, secret: &str) -> BillingResult<Option<ApiKey>> {
        let hash = ApiKeyHash::of_secret(secret);
        Ok(self.store.find_api_key(&hash).await?)
    }

    /// Whether the account still has the key `id`: revoking a key ends what
    /// it opened, the console's sessions included.
    pub async fn has_api_key(&self, account: &AccountId, id: &ApiKeyId) -> BillingResult<bool> {
        let keys = self.store.list_api_keys(account).await?;
        Ok(keys.iter().any(|key| key.id == *id))
    }

    /// Revokes one of the account's keys (`key_…`); `NotFound` for an id
    /// that does not parse or is not one of its keys. A server caching keys
    /// stops accepting it within its key cache's lifetime.
    pub async fn revoke_api_key(&self, account: &AccountId, id: &str) -> BillingResult<()> {
        let id = ApiKeyId::parse(id).map_err(|_| BillingError::not_found("api key"))?;
        Ok(self.store.delete_api_key(account, &id).await?)
    }
}
