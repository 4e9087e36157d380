//! Invoicing many subscriptions at once (docs/billing.md, "Invoicing in
//! batches"): the end-of-period run of a billing engine.
//!
//! Each subscription's draft is priced exactly as `create_invoice` prices
//! it (its quantities from the rollups), but the work is shared: each
//! product and aggregator is read once for the batch, and every draft is
//! written in one store transaction, so a thousand invoices cost one
//! durable commit instead of a thousand. A subscription that cannot be
//! invoiced (unknown, not started at `at`, its period already invoiced) gets
//! its own error and does not stop the others.

use tally_event::Timestamp;
use tally_store::{NewInvoice, WebhookEventType};

use super::basis::CatalogReads;
use super::{InvoiceTotals, InvoiceView, period_taken, view};
use crate::error::{BillingError, BillingResult};
use crate::period::period_containing;
use crate::service::Billing;

/// The most subscriptions one batch invoices.
pub const MAX_BATCH_INVOICES: usize = 1_000;

/// What became of one subscription of a batch.
#[derive(Debug)]
pub struct BatchInvoice {
    /// The subscription id as given.
    pub subscription_id: String,
    /// Its new draft, or why it has none: `NotFound`, an invalid period, the
    /// `Conflict` naming the invoice that already covers the period, or a
    /// quantity or amount that could not be computed.
    pub result: BillingResult<InvoiceView>,
}

impl Billing {
    /// Creates the draft of each subscription's period containing `at`
    /// (default now), as [`Billing::create_invoice`] does one, in the order
    /// given (invoice numbers follow it). Fails as a whole only on bad input
    /// (more than [`MAX_BATCH_INVOICES`]) or a store failure, and then
    /// creates none.
    pub async fn create_invoices(
        &self,
        account: &tally_store::AccountId,
        subscription_ids: &[String],
        at: Option<Timestamp>,
    ) -> BillingResult<Vec<BatchInvoice>> {
        if subscription_ids.len() > MAX_BATCH_INVOICES {
            return Err(BillingError::invalid(
                "/subscription_ids",
                "too_many",
                format!("at most {MAX_BATCH_INVOICES} subscriptions per batch"),
            ));
        }
        let at = at.unwrap_or_else(|| self.now());
        let mut catalog = CatalogReads::default();
        let mut results: Vec<Option<BillingResult<InvoiceView>>> = Vec::new();
        let mut drafts: Vec<(usize, NewInvoice)> = Vec::new();
        for (index, id) in subscription_ids.iter().enumerate() {
            match self.batch_draft(account, id, at, &mut catalog).await {
                Ok(draft) => {
                    results.push(None);
                    drafts.push((index, draft));
                }
                Err(error) if is_refusal(&error) => results.push(Some(Err(error))),
                Err(error) => return Err(error),
            }
        }
        let (indexes, news): (Vec<usize>, Vec<NewInvoice>) = drafts.into_iter().unzip();
        let events = self.invoice_event_each(WebhookEventType::InvoiceCreated);
        let stored = self
            .store
            .create_invoices_with_events(account, &news, &events)
            .await?;
        for ((index, new), outcome) in indexes.into_iter().zip(&news).zip(stored) {
            results[index] = Some(match outcome {
                Ok(invoice) => view(invoice),
                Err(error) if error.is_invoice_period_taken() => {
                    let Some(subscription) = &new.subscription_id else {
                        return Err(error.into());
                    };
                    Err(self.lost_race(account, subscription, new.period).await)
                }
                Err(error) => return Err(error.into()),
            });
        }
        Ok(subscription_ids
            .iter()
            .zip(results)
            .map(|(id, result)| BatchInvoice {
                subscription_id: id.clone(),
                result: result.unwrap_or_else(|| {
                    Err(BillingError::Evaluation(
                        "a batch invoice has no result".into(),
                    ))
                }),
            })
            .collect())
    }

    /// The draft of one subscription of a batch, priced with the batch's
    /// catalog reads; an error for a subscription that cannot be invoiced.
    async fn batch_draft(
        &self,
        account: &tally_store::AccountId,
        id: &str,
        at: Timestamp,
        catalog: &mut CatalogReads,
    ) -> BillingResult<NewInvoice> {
        let subscription = self.get_subscription(account, id).await?;
        let period = period_containing(&subscription, at)
            .map_err(|e| BillingError::invalid("/at", "no_billing_period", e.to_string()))?;
        if let Some(existing) = self.invoice_for(account, &subscription.id, period).await? {
            return Err(period_taken(&existing));
        }
        let pricing = self
            .live_pricing_with(account, &subscription, period.start(), catalog)
            .await?;
        let lines = self
            .priced_lines(account, &subscription.customer_id, period, &pricing, None)
            .await?;
        let totals = InvoiceTotals::of(&lines)?;
        self.new_draft(&subscription, period, &lines, totals)
    }
}

/// Whether `error` refuses one subscription (the others go on) rather than
/// the batch: what `create_invoice` answers for that subscription alone
/// (a store failure fails the batch).
fn is_refusal(error: &BillingError) -> bool {
    matches!(
        error,
        BillingError::NotFound { .. }
            | BillingError::Invalid(_)
            | BillingError::Conflict { .. }
            | BillingError::Evaluation(_)
    )
}
