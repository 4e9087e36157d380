//! `AccountStore`: accounts and API keys (stored by hash only).

use async_trait::async_trait;
use tally_store::{
    Account, AccountId, AccountStore, ApiKey, ApiKeyHash, ApiKeyId, StoreError, StoreResult,
};

use crate::rows::{corrupt, parse, timestamp};
use crate::{PgStore, map_sqlx_error};

const INSERT_ACCOUNT: &str =
    "INSERT INTO accounts (id, name, settings, created_at) VALUES ($1, $2, $3::json, $4)";
const GET_ACCOUNT: &str = "SELECT id, name, settings, created_at FROM accounts WHERE id = $1";
const ACCOUNT_BY_NAME: &str = "SELECT id, name, settings, created_at FROM accounts WHERE name = $1";
const LIST_ACCOUNTS: &str =
    "SELECT id, name, settings, created_at FROM accounts ORDER BY created_at, id";
const INSERT_KEY: &str =
    "INSERT INTO api_keys (id, account_id, hash, created_at) VALUES ($1, $2, $3, $4)";
const KEY_BY_HASH: &str = "SELECT id, account_id, hash, created_at FROM api_keys WHERE hash = $1";
const DELETE_KEY: &str = "DELETE FROM api_keys WHERE account_id = $1 AND id = $2";
const KEYS_OF_ACCOUNT: &str = "SELECT id, account_id, hash, created_at FROM api_keys \
     WHERE account_id = $1 ORDER BY created_at, id";
const UPDATE_SETTINGS: &str = "UPDATE accounts SET settings = $2::json WHERE id = $1 \
     RETURNING id, name, settings, created_at";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    name: String,
    settings: serde_json::Value,
    created_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> StoreResult<Self> {
        Ok(Account {
            id: parse(row.id, "accounts.id")?,
            name: row.name,
            settings: row.settings,
            created_at: timestamp(row.created_at, "accounts.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    account_id: String,
    hash: String,
    created_at: i64,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: parse(row.id, "api_keys.id")?,
            account_id: parse(row.account_id, "api_keys.account_id")?,
            hash: ApiKeyHash::parse_hex(&row.hash).map_err(|e| corrupt("api_keys.hash", e))?,
            created_at: timestamp(row.created_at, "api_keys.created_at")?,
        })
    }
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_account(&self, account: &Account) -> StoreResult<Account> {
        sqlx::query(INSERT_ACCOUNT)
            .bind(account.id.as_str())
            .bind(&account.name)
            .bind(account.settings.to_string())
            .bind(account.created_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(account.clone())
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        let row: Option<AccountRow> = sqlx::query_as(GET_ACCOUNT)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.ok_or(StoreError::not_found("account"))?.try_into()
    }

    async fn find_account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(ACCOUNT_BY_NAME)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.map(Account::try_from).transpose()
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let rows: Vec<AccountRow> = sqlx::query_as(LIST_ACCOUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn update_account_settings(
        &self,
        id: &AccountId,
        settings: &serde_json::Value,
    ) -> StoreResult<Account> {
        let row: Option<AccountRow> = sqlx::query_as(UPDATE_SETTINGS)
            .bind(id.as_str())
            .bind(settings.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.ok_or_else(|| StoreError::not_found("account"))?
            .try_into()
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(KEYS_OF_ACCOUNT)
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        sqlx::query(INSERT_KEY)
            .bind(key.id.as_str())
            .bind(key.account_id.as_str())
            .bind(key.hash.as_str())
            .bind(key.created_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(key.clone())
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(KEY_BY_HASH)
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn delete_api_key(&self, account: &AccountId, id: &ApiKeyId) -> StoreResult<()> {
        let done = sqlx::query(DELETE_KEY)
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("api key"));
        }
        Ok(())
    }
}
