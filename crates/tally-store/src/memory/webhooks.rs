//! `WebhookStore` for `MemoryStore`: each tenant's endpoints, outbox and
//! messages in maps; the worker's calls walk every tenant under the store's
//! one mutex, which makes each of them atomic.

use std::collections::HashMap;

use async_trait::async_trait;
use tally_event::Timestamp;

use super::catalog::{get, insert_new};
use super::{MemoryStore, Tenant};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, WebhookEndpointId, WebhookMessageId};
use crate::page::{Page, PageRequest};
use crate::traits::WebhookStore;
use crate::webhooks::{
    AttemptOutcome, ClaimRequest, ClaimedMessage, FinishedAttempt, MessageQuery, MessageStatus,
    NewWebhookEvent, WebhookEndpoint, WebhookMessage, message_id,
};

/// An outbox row.
#[derive(Debug, Clone)]
pub(super) struct OutboxEvent {
    event: NewWebhookEvent,
    dispatched: bool,
}

/// A message with the worker's bookkeeping, as the SQL backends keep it.
#[derive(Debug, Clone)]
pub(super) struct MessageRow {
    message: WebhookMessage,
    attempt_count: u32,
    run_attempts: u32,
    lease_until: Option<Timestamp>,
}

impl MessageRow {
    fn is_due(&self, now: Timestamp) -> bool {
        let claimable = match self.message.status {
            MessageStatus::Pending => true,
            MessageStatus::Delivering => self.lease_until.is_none_or(|end| end <= now),
            MessageStatus::Succeeded | MessageStatus::Failed => false,
        };
        claimable && self.message.next_attempt_at.is_some_and(|at| at <= now)
    }

    fn is_leased(&self, now: Timestamp) -> bool {
        self.message.status == MessageStatus::Delivering
            && self.lease_until.is_some_and(|end| end > now)
    }
}

/// Writes `events` to the tenant's outbox: the memory store's transactional
/// insert, called under the lock of the write that causes them.
pub(super) fn record_events(tenant: &mut Tenant, events: Vec<NewWebhookEvent>) -> StoreResult<()> {
    if events.iter().any(|new| {
        tenant
            .webhook_events
            .iter()
            .any(|stored| stored.event.id == new.id)
    }) {
        return Err(StoreError::conflict("webhook event", "id already exists"));
    }
    tenant
        .webhook_events
        .extend(events.into_iter().map(|event| OutboxEvent {
            event,
            dispatched: false,
        }));
    Ok(())
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        self.with_tenant(account, |t| {
            insert_new(
                &mut t.webhook_endpoints,
                &endpoint.id,
                endpoint,
                "webhook endpoint",
            )
        })
    }

    async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<WebhookEndpoint> {
        self.with_tenant(account, |t| {
            get(&t.webhook_endpoints, id, "webhook endpoint")
        })
    }

    async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        page.check()?;
        self.with_tenant(account, |t| {
            let mut all: Vec<WebhookEndpoint> = t.webhook_endpoints.values().cloned().collect();
            all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(Page::slice(all, page))
        })
    }

    async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        self.with_tenant(account, |t| {
            let slot = t
                .webhook_endpoints
                .get_mut(&endpoint.id)
                .ok_or(StoreError::not_found("webhook endpoint"))?;
            *slot = WebhookEndpoint {
                created_at: slot.created_at,
                ..endpoint.clone()
            };
            Ok(slot.clone())
        })
    }

    async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &WebhookEndpointId,
    ) -> StoreResult<()> {
        self.with_tenant(account, |t| {
            t.webhook_endpoints
                .remove(id)
                .ok_or(StoreError::not_found("webhook endpoint"))?;
            t.webhook_messages
                .retain(|_, row| row.message.endpoint_id != *id);
            Ok(())
        })
    }

    async fn record_webhook_event(
        &self,
        account: &AccountId,
        event: &NewWebhookEvent,
    ) -> StoreResult<()> {
        self.with_tenant(account, |t| record_events(t, vec![event.clone()]))
    }

    async fn dispatch_webhook_events(&self, now: Timestamp, max_events: u32) -> StoreResult<u64> {
        self.with_state(|state| {
            let mut waiting: Vec<(Timestamp, AccountId, usize)> = Vec::new();
            for (account, tenant) in &state.tenants {
                for (index, row) in tenant.webhook_events.iter().enumerate() {
                    if !row.dispatched {
                        waiting.push((row.event.created_at, account.clone(), index));
                    }
                }
            }
            waiting.sort();
            waiting.truncate(max_events as usize);
            for (_, account, index) in &waiting {
                if let Some(tenant) = state.tenants.get_mut(account) {
                    dispatch_one(tenant, *index, now);
                }
            }
            Ok(waiting.len() as u64)
        })
    }

    async fn claim_webhook_messages(
        &self,
        claim: &ClaimRequest,
    ) -> StoreResult<Vec<ClaimedMessage>> {
        self.with_state(|state| {
            let mut due: Vec<(Timestamp, AccountId, WebhookMessageId)> = Vec::new();
            let mut leased: HashMap<WebhookEndpointId, u32> = HashMap::new();
            for (account, tenant) in &state.tenants {
                for row in tenant.webhook_messages.values() {
                    if row.is_leased(claim.now) {
                        *leased.entry(row.message.endpoint_id.clone()).or_default() += 1;
                    } else if row.is_due(claim.now) {
                        let at = row.message.next_attempt_at.unwrap_or(claim.now);
                        due.push((at, account.clone(), row.message.id.clone()));
                    }
                }
            }
            due.sort();
            let mut claimed = Vec::new();
            for (_, account, id) in due {
                if claimed.len() >= claim.max_messages as usize {
                    break;
                }
                let Some(tenant) = state.tenants.get_mut(&account) else {
                    continue;
                };
                if let Some(message) = claim_one(tenant, &account, &id, claim, &mut leased) {
                    claimed.push(message);
                }
            }
            Ok(claimed)
        })
    }

    async fn finish_webhook_attempt(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        finished: &FinishedAttempt,
    ) -> StoreResult<bool> {
        self.with_tenant(account, |t| {
            let Some(row) = t.webhook_messages.get_mut(id) else {
                return Ok(false);
            };
            if row.message.status != MessageStatus::Delivering
                || row.attempt_count != finished.attempt.attempt
            {
                return Ok(false);
            }
            row.message.attempts.push(finished.attempt.clone());
            row.lease_until = None;
            let (status, next) = match finished.outcome {
                AttemptOutcome::Succeeded => (MessageStatus::Succeeded, None),
                AttemptOutcome::RetryAt(at) => (MessageStatus::Pending, Some(at)),
                AttemptOutcome::Failed => (MessageStatus::Failed, None),
            };
            row.message.status = status;
            row.message.next_attempt_at = next;
            Ok(true)
        })
    }

    async fn list_webhook_messages(
        &self,
        account: &AccountId,
        query: &MessageQuery,
    ) -> StoreResult<Page<WebhookMessage>> {
        query.page.check()?;
        self.with_tenant(account, |t| {
            let mut all: Vec<WebhookMessage> = t
                .webhook_messages
                .values()
                .map(|row| &row.message)
                .filter(|m| {
                    query
                        .endpoint_id
                        .as_ref()
                        .is_none_or(|e| *e == m.endpoint_id)
                })
                .filter(|m| query.status.is_none_or(|s| s == m.status))
                .cloned()
                .collect();
            all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            Ok(Page::slice(all, query.page))
        })
    }

    async fn get_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
    ) -> StoreResult<WebhookMessage> {
        self.with_tenant(account, |t| {
            t.webhook_messages
                .get(id)
                .map(|row| row.message.clone())
                .ok_or(StoreError::not_found("webhook message"))
        })
    }

    async fn retry_webhook_message(
        &self,
        account: &AccountId,
        id: &WebhookMessageId,
        now: Timestamp,
    ) -> StoreResult<WebhookMessage> {
        self.with_tenant(account, |t| {
            let row = t
                .webhook_messages
                .get_mut(id)
                .ok_or(StoreError::not_found("webhook message"))?;
            if row.is_leased(now) {
                return Err(StoreError::conflict(
                    "webhook message",
                    "an attempt is in progress",
                ));
            }
            row.message.status = MessageStatus::Pending;
            row.message.next_attempt_at = Some(now);
            row.run_attempts = 0;
            row.lease_until = None;
            Ok(row.message.clone())
        })
    }
}

/// Turns the tenant's outbox row `index` into its messages.
fn dispatch_one(tenant: &mut Tenant, index: usize, now: Timestamp) {
    let Some(row) = tenant.webhook_events.get_mut(index) else {
        return;
    };
    row.dispatched = true;
    let event = row.event.clone();
    let endpoints: Vec<WebhookEndpointId> = tenant
        .webhook_endpoints
        .values()
        .filter(|endpoint| endpoint.subscribes_to(event.event_type))
        .map(|endpoint| endpoint.id.clone())
        .collect();
    for endpoint_id in endpoints {
        let id = message_id(&event.id, &endpoint_id);
        tenant
            .webhook_messages
            .entry(id.clone())
            .or_insert_with(|| MessageRow {
                message: WebhookMessage {
                    id,
                    endpoint_id,
                    event_id: event.id.clone(),
                    event_type: event.event_type,
                    data: event.data.clone(),
                    status: MessageStatus::Pending,
                    next_attempt_at: Some(now),
                    attempts: Vec::new(),
                    created_at: now,
                },
                attempt_count: 0,
                run_attempts: 0,
                lease_until: None,
            });
    }
}

/// Claims one due message unless its endpoint is at its limit.
fn claim_one(
    tenant: &mut Tenant,
    account: &AccountId,
    id: &WebhookMessageId,
    claim: &ClaimRequest,
    leased: &mut HashMap<WebhookEndpointId, u32>,
) -> Option<ClaimedMessage> {
    let row = tenant.webhook_messages.get_mut(id)?;
    let endpoint = tenant.webhook_endpoints.get(&row.message.endpoint_id)?;
    let busy = leased.entry(endpoint.id.clone()).or_default();
    if *busy >= claim.per_endpoint {
        return None;
    }
    *busy += 1;
    row.message.status = MessageStatus::Delivering;
    row.lease_until = Some(claim.lease_until);
    row.attempt_count += 1;
    row.run_attempts += 1;
    Some(ClaimedMessage {
        account: account.clone(),
        id: row.message.id.clone(),
        endpoint_id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        secret: endpoint.secret.clone(),
        event_id: row.message.event_id.clone(),
        event_type: row.message.event_type,
        data: row.message.data.clone(),
        attempt: row.attempt_count,
        run_attempt: row.run_attempts,
    })
}
