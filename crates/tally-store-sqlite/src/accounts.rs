//! `AccountStore` for SQLite: accounts and API keys (by hash only).

use async_trait::async_trait;
use tally_store::{Account, AccountId, AccountStore, ApiKey, ApiKeyHash, ApiKeyId, StoreResult};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::rows::{AccountRow, ApiKeyRow};

const INSERT_ACCOUNT: &str =
    "INSERT INTO accounts (id, name, settings, created_at) VALUES (?1, ?2, ?3, ?4)";
const ACCOUNT_BY_ID: &str = "SELECT id, name, settings, created_at FROM accounts WHERE id = ?1";
const ACCOUNT_BY_NAME: &str = "SELECT id, name, settings, created_at FROM accounts WHERE name = ?1";
const ALL_ACCOUNTS: &str =
    "SELECT id, name, settings, created_at FROM accounts ORDER BY created_at, id";
const INSERT_KEY: &str =
    "INSERT INTO api_keys (id, account_id, hash, created_at) VALUES (?1, ?2, ?3, ?4)";
/// The account must exist: a key opening nothing would be a trap.
const ACCOUNT_EXISTS: &str = "SELECT COUNT(*) FROM accounts WHERE id = ?1";
const KEY_BY_HASH: &str = "SELECT id, account_id, hash, created_at FROM api_keys WHERE hash = ?1";
const DELETE_KEY: &str = "DELETE FROM api_keys WHERE account_id = ?1 AND id = ?2";
const KEYS_OF_ACCOUNT: &str = "SELECT id, account_id, hash, created_at FROM api_keys \
     WHERE account_id = ?1 ORDER BY created_at, id";
const UPDATE_SETTINGS: &str = "UPDATE accounts SET settings = ?2 WHERE id = ?1";

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &Account) -> StoreResult<Account> {
        sqlx::query(INSERT_ACCOUNT)
            .bind(account.id.as_str())
            .bind(&account.name)
            .bind(account.settings.to_string())
            .bind(account.created_at.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err("account"))?;
        Ok(account.clone())
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        let row: AccountRow = sqlx::query_as(ACCOUNT_BY_ID)
            .bind(id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("account"))?;
        row.try_into()
    }

    async fn find_account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(ACCOUNT_BY_NAME)
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("account"))?;
        row.map(Account::try_from).transpose()
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let rows: Vec<AccountRow> = sqlx::query_as(ALL_ACCOUNTS)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("account"))?;
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn update_account_settings(
        &self,
        id: &AccountId,
        settings: &serde_json::Value,
    ) -> StoreResult<Account> {
        let done = sqlx::query(UPDATE_SETTINGS)
            .bind(id.as_str())
            .bind(settings.to_string())
            .execute(&self.writer)
            .await
            .map_err(db_err("account"))?;
        crate::scoped::one_row(done.rows_affected(), "account")?;
        self.get_account(id).await
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(KEYS_OF_ACCOUNT)
            .bind(account.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("api key"))?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        let mut tx = self.begin_write().await?;
        let exists: i64 = sqlx::query_scalar(ACCOUNT_EXISTS)
            .bind(key.account_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("account"))?;
        if exists == 0 {
            return Err(tally_store::StoreError::not_found("account"));
        }
        sqlx::query(INSERT_KEY)
            .bind(key.id.as_str())
            .bind(key.account_id.as_str())
            .bind(key.hash.as_str())
            .bind(key.created_at.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err("api key"))?;
        tx.commit().await.map_err(db_err("api key"))?;
        Ok(key.clone())
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(KEY_BY_HASH)
            .bind(hash.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("api key"))?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn delete_api_key(&self, account: &AccountId, id: &ApiKeyId) -> StoreResult<()> {
        let done = sqlx::query(DELETE_KEY)
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err("api key"))?;
        crate::scoped::one_row(done.rows_affected(), "api key")
    }
}
