//! Webhook messages (`msg_…`): lists with their attempts, and manual
//! retries.

use tally_store::{
    AccountId, MessageQuery, MessageStatus, Page, WebhookEndpointId, WebhookMessage,
    WebhookMessageId,
};

use crate::error::{BillingError, BillingResult, Problems};
use crate::input::Pagination;
use crate::service::Billing;

/// Narrows a list of messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this endpoint's (`we_…`; one that does not exist matches nothing).
    pub endpoint_id: Option<String>,
    /// Only messages in this state: `pending`, `delivering`, `succeeded` or
    /// `failed`.
    pub status: Option<String>,
}

impl Billing {
    /// The account's messages, newest first, with their attempts.
    pub async fn list_webhook_messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
        page: Pagination,
    ) -> BillingResult<Page<WebhookMessage>> {
        let mut problems = Problems::default();
        let page = page.check(&mut problems);
        let status = filter.status.as_deref().and_then(|text| {
            let status = MessageStatus::parse(text);
            if status.is_none() {
                problems.push(
                    "/status",
                    "invalid_value",
                    "must be pending, delivering, succeeded or failed",
                );
            }
            status
        });
        problems.finish()?;
        let endpoint_id = match filter.endpoint_id.as_deref() {
            None => None,
            Some(id) => match WebhookEndpointId::parse(id) {
                Ok(id) => Some(id),
                Err(_) => {
                    return Ok(Page {
                        total: 0,
                        items: Vec::new(),
                    });
                }
            },
        };
        let query = MessageQuery {
            endpoint_id,
            status,
            page,
        };
        Ok(self.store.list_webhook_messages(account, &query).await?)
    }

    /// Starts a new run of attempts for the message, due now, whatever its
    /// state but one: an attempt in progress is a `Conflict`.
    pub async fn retry_webhook_message(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<WebhookMessage> {
        let id =
            WebhookMessageId::parse(id).map_err(|_| BillingError::not_found("webhook message"))?;
        Ok(self
            .store
            .retry_webhook_message(account, &id, self.now())
            .await?)
    }
}
