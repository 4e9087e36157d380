//! `IdempotencyStore` for SQLite. A claim is an upsert that takes over the row
//! only when it is free (expired, or abandoned in flight), then a read of the
//! row it could not take, in one write transaction: SQLite's single writer
//! makes the pair atomic.

use async_trait::async_trait;
use tally_event::Timestamp;
use tally_store::{
    AccountId, Claim, ClaimToken, IdempotencyKey, IdempotencyStore, NewClaim, StoreResult,
    StoredClaim, StoredResponse,
};

use crate::error::db_err;
use crate::open::SqliteStore;

const ENTITY: &str = "idempotency key";

/// Inserts the claim, or replaces a free row; returns a row only if it wrote.
const CLAIM: &str = "\
INSERT INTO idempotency_keys (account_id, idempotency_key, request_hash, token, claimed_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (account_id, idempotency_key) DO UPDATE SET
    request_hash = excluded.request_hash, token = excluded.token,
    claimed_at = excluded.claimed_at, status = NULL, content_type = NULL, body = NULL
WHERE idempotency_keys.claimed_at <= ?6
   OR (idempotency_keys.status IS NULL AND idempotency_keys.claimed_at <= ?7)
RETURNING token";
const EXISTING: &str = "\
SELECT request_hash, status, content_type, body FROM idempotency_keys
WHERE account_id = ?1 AND idempotency_key = ?2";
const COMPLETE: &str = "\
UPDATE idempotency_keys SET status = ?4, content_type = ?5, body = ?6
WHERE account_id = ?1 AND idempotency_key = ?2 AND token = ?3 AND status IS NULL";
const RELEASE: &str = "\
DELETE FROM idempotency_keys
WHERE account_id = ?1 AND idempotency_key = ?2 AND token = ?3 AND status IS NULL";
const DELETE_EXPIRED: &str = "DELETE FROM idempotency_keys WHERE claimed_at <= ?1";

#[derive(sqlx::FromRow)]
struct ClaimRow {
    request_hash: String,
    status: Option<i64>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

impl TryFrom<ClaimRow> for StoredClaim {
    type Error = tally_store::StoreError;

    fn try_from(row: ClaimRow) -> StoreResult<Self> {
        StoredClaim::from_columns(&row.request_hash, row.status, row.content_type, row.body)
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        account: &AccountId,
        claim: &NewClaim,
    ) -> StoreResult<Claim> {
        let mut tx = self.begin_write().await?;
        let won: Option<String> = sqlx::query_scalar(CLAIM)
            .bind(account.as_str())
            .bind(claim.key.as_str())
            .bind(claim.request.as_str())
            .bind(claim.token.as_str())
            .bind(claim.now.as_millis())
            .bind(claim.expired_before())
            .bind(claim.abandoned_before())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err(ENTITY))?;
        let outcome = match won {
            Some(_) => Claim::Claimed,
            None => {
                let row: ClaimRow = sqlx::query_as(EXISTING)
                    .bind(account.as_str())
                    .bind(claim.key.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err(ENTITY))?;
                StoredClaim::try_from(row)?.outcome(&claim.request)
            }
        };
        tx.commit().await.map_err(db_err(ENTITY))?;
        Ok(outcome)
    }

    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> StoreResult<bool> {
        let done = sqlx::query(COMPLETE)
            .bind(account.as_str())
            .bind(key.as_str())
            .bind(token.as_str())
            .bind(i64::from(response.status))
            .bind(response.content_type.as_deref())
            .bind(response.body.as_slice())
            .execute(&self.writer)
            .await
            .map_err(db_err(ENTITY))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> StoreResult<bool> {
        let done = sqlx::query(RELEASE)
            .bind(account.as_str())
            .bind(key.as_str())
            .bind(token.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err(ENTITY))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_idempotency_keys(&self, claimed_before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(DELETE_EXPIRED)
            .bind(claimed_before.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err(ENTITY))?;
        Ok(done.rows_affected())
    }
}
