//! The account a use case acts in, for callers that have no API key to find
//! it by: an embedding program, the first start of `tally serve`.

use tally_store::{Account, AccountId, StoreError};

use crate::error::{BillingError, BillingResult};
use crate::service::Billing;

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
    /// assert_eq!(blank.unwrap_err().code(), "invalid_request");
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
