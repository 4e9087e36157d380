//! `IdempotencyStore` for `MemoryStore`: each tenant's keys in a map, claimed
//! under the store's one mutex.

use async_trait::async_trait;
use tally_event::Timestamp;

use super::MemoryStore;
use crate::error::StoreResult;
use crate::idempotency::{
    Claim, ClaimToken, IdempotencyKey, NewClaim, RequestHash, StoredClaim, StoredResponse,
};
use crate::ids::AccountId;
use crate::traits::IdempotencyStore;

/// A key's row, as the SQL backends store it.
#[derive(Debug, Clone)]
pub(super) struct KeyRow {
    request: RequestHash,
    token: ClaimToken,
    claimed_at: i64,
    response: Option<StoredResponse>,
}

impl KeyRow {
    /// Whether a new claim may replace the row: expired, or abandoned in flight.
    fn is_free(&self, claim: &NewClaim) -> bool {
        self.claimed_at <= claim.expired_before()
            || (self.response.is_none() && self.claimed_at <= claim.abandoned_before())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency_key(
        &self,
        account: &AccountId,
        claim: &NewClaim,
    ) -> StoreResult<Claim> {
        self.with_tenant(account, |t| {
            if let Some(row) = t.idempotency.get(&claim.key)
                && !row.is_free(claim)
            {
                let stored = StoredClaim {
                    request: row.request.clone(),
                    response: row.response.clone(),
                };
                return Ok(stored.outcome(&claim.request));
            }
            let row = KeyRow {
                request: claim.request.clone(),
                token: claim.token.clone(),
                claimed_at: claim.now.as_millis(),
                response: None,
            };
            t.idempotency.insert(claim.key.clone(), row);
            Ok(Claim::Claimed)
        })
    }

    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> StoreResult<bool> {
        self.with_tenant(account, |t| match t.idempotency.get_mut(key) {
            Some(row) if row.token == *token && row.response.is_none() => {
                row.response = Some(response.clone());
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> StoreResult<bool> {
        self.with_tenant(account, |t| {
            let held = t
                .idempotency
                .get(key)
                .is_some_and(|row| row.token == *token && row.response.is_none());
            if held {
                t.idempotency.remove(key);
            }
            Ok(held)
        })
    }

    async fn delete_expired_idempotency_keys(&self, claimed_before: Timestamp) -> StoreResult<u64> {
        let cutoff = claimed_before.as_millis();
        self.with_state(|state| {
            let mut deleted = 0;
            for tenant in state.tenants.values_mut() {
                let before = tenant.idempotency.len();
                tenant.idempotency.retain(|_, row| row.claimed_at > cutoff);
                deleted += (before - tenant.idempotency.len()) as u64;
            }
            Ok(deleted)
        })
    }
}
