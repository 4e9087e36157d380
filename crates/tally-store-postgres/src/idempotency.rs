//! `IdempotencyStore` for PostgreSQL. A claim is an upsert under the
//! (account, key) primary key that takes over the row only when it is free
//! (expired, or abandoned in flight): concurrent claimants, in any process,
//! queue on the row, and only one of them inserts or takes it over. A
//! claimant that did neither reads the row it found, still locked by its
//! upsert, in the same transaction.

use async_trait::async_trait;
use tally_event::Timestamp;
use tally_store::{
    AccountId, Claim, ClaimToken, IdempotencyKey, IdempotencyStore, NewClaim, StoreError,
    StoreResult, StoredClaim, StoredResponse,
};

use crate::{PgStore, map_sqlx_error};

/// Inserts the claim, or replaces a free row; returns a row only if it wrote.
/// A conflicting row is locked even when the WHERE refuses the update.
const CLAIM: &str = "INSERT INTO idempotency_keys AS k \
     (account_id, idempotency_key, request_hash, token, claimed_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (account_id, idempotency_key) DO UPDATE SET \
     request_hash = EXCLUDED.request_hash, token = EXCLUDED.token, \
     claimed_at = EXCLUDED.claimed_at, status = NULL, content_type = NULL, body = NULL \
     WHERE k.claimed_at <= $6 OR (k.status IS NULL AND k.claimed_at <= $7) \
     RETURNING token";
const EXISTING: &str = "SELECT request_hash, status, content_type, body FROM idempotency_keys \
     WHERE account_id = $1 AND idempotency_key = $2";
const COMPLETE: &str = "UPDATE idempotency_keys SET status = $4, content_type = $5, body = $6 \
     WHERE account_id = $1 AND idempotency_key = $2 AND token = $3 AND status IS NULL";
const RELEASE: &str = "DELETE FROM idempotency_keys \
     WHERE account_id = $1 AND idempotency_key = $2 AND token = $3 AND status IS NULL";
const DELETE_EXPIRED: &str = "DELETE FROM idempotency_keys WHERE claimed_at <= $1";

#[derive(sqlx::FromRow)]
struct ClaimRow {
    request_hash: String,
    status: Option<i32>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

impl TryFrom<ClaimRow> for StoredClaim {
    type Error = StoreError;

    fn try_from(row: ClaimRow) -> StoreResult<Self> {
        StoredClaim::from_columns(
            &row.request_hash,
            row.status.map(i64::from),
            row.content_type,
            row.body,
        )
    }
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_idempotency_key(
        &self,
        account: &AccountId,
        claim: &NewClaim,
    ) -> StoreResult<Claim> {
        let mut tx = self.pool().begin().await.map_err(map_sqlx_error)?;
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
            .map_err(map_sqlx_error)?;
        let outcome = match won {
            Some(_) => Claim::Claimed,
            None => {
                let row: ClaimRow = sqlx::query_as(EXISTING)
                    .bind(account.as_str())
                    .bind(claim.key.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_sqlx_error)?;
                StoredClaim::try_from(row)?.outcome(&claim.request)
            }
        };
        tx.commit().await.map_err(map_sqlx_error)?;
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
            .bind(i32::from(response.status))
            .bind(response.content_type.as_deref())
            .bind(response.body.as_slice())
            .execute(self.pool())
            .await
            .map_err(map_sqlx_error)?;
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
            .execute(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_idempotency_keys(&self, claimed_before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query(DELETE_EXPIRED)
            .bind(claimed_before.as_millis())
            .execute(self.pool())
            .await
            .map_err(map_sqlx_error)?;
        Ok(done.rows_affected())
    }
}
