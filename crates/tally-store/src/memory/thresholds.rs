//! `ThresholdStore` for `MemoryStore`: each tenant's states in a map; the
//! store's one mutex makes the compare-and-set and its outbox write atomic.

use async_trait::async_trait;
use tally_event::Timestamp;

use super::MemoryStore;
use super::webhooks::record_events;
use crate::error::StoreResult;
use crate::ids::{AccountId, CustomerId};
use crate::thresholds::{ThresholdChange, ThresholdState};
use crate::traits::ThresholdStore;

#[async_trait]
impl ThresholdStore for MemoryStore {
    async fn threshold_states(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        after: Timestamp,
    ) -> StoreResult<Vec<ThresholdState>> {
        self.with_tenant(account, |t| {
            Ok(t.threshold_states
                .values()
                .filter(|s| &s.customer_id == customer && s.period.end() > after)
                .cloned()
                .collect())
        })
    }

    async fn customers_past_thresholds(
        &self,
        account: &AccountId,
        after: Timestamp,
    ) -> StoreResult<Vec<CustomerId>> {
        self.with_tenant(account, |t| {
            let mut customers: Vec<CustomerId> = t
                .threshold_states
                .values()
                .filter(|s| s.crossed && s.period.end() > after)
                .map(|s| s.customer_id.clone())
                .collect();
            customers.sort();
            customers.dedup();
            Ok(customers)
        })
    }

    async fn change_threshold_state(
        &self,
        account: &AccountId,
        change: &ThresholdChange,
    ) -> StoreResult<bool> {
        self.with_tenant(account, |t| {
            let state = &change.state;
            let key = (
                state.customer_id.clone(),
                state.key.clone(),
                state.period.start().as_millis(),
            );
            if !change.applies_to(t.threshold_states.get(&key)) {
                return Ok(false);
            }
            record_events(t, change.events.clone())?;
            t.threshold_states.insert(key, state.clone());
            Ok(true)
        })
    }
}
