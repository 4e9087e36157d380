//! A subscription's current period priced exactly as its draft invoice would
//! be, without storing anything: the read behind the customer portal, which
//! must not create invoices (nor take their numbers) by being looked at.

use tally_event::{Period, Timestamp};
use tally_store::{AccountId, Subscription, SubscriptionId};

use super::{InvoiceLine, InvoiceTotals};
use crate::error::BillingResult;
use crate::period::period_containing;
use crate::service::Billing;

/// The lines and totals of a subscription's period so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodPreview {
    /// The subscription priced.
    pub subscription_id: SubscriptionId,
    /// The billing period containing the instant asked for, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The lines a draft for this period has now, in the same order.
    pub lines: Vec<InvoiceLine>,
    /// Sums of the lines, in minor units.
    pub totals: InvoiceTotals,
}

impl Billing {
    /// The subscription's period containing `at` (default now), priced from
    /// the current events and the live catalog as a draft is; `None` when no
    /// period contains `at` (the subscription has not started). Writes nothing.
    pub async fn preview_period(
        &self,
        account: &AccountId,
        subscription_id: &str,
        at: Option<Timestamp>,
    ) -> BillingResult<Option<PeriodPreview>> {
        let subscription = self.get_subscription(account, subscription_id).await?;
        let Ok(period) = period_containing(&subscription, at.unwrap_or_else(|| self.now())) else {
            return Ok(None);
        };
        let (lines, totals) = self.draft_lines(account, &subscription, period).await?;
        Ok(Some(PeriodPreview {
            subscription_id: subscription.id,
            period,
            currency: subscription.currency,
            lines,
            totals,
        }))
    }

    /// The lines of `period` as a draft has them, from the live catalog and
    /// the events as known now, with their sums: what creating a draft
    /// stores and what a preview shows.
    pub(crate) async fn draft_lines(
        &self,
        account: &AccountId,
        subscription: &Subscription,
        period: Period,
    ) -> BillingResult<(Vec<InvoiceLine>, InvoiceTotals)> {
        let pricing = self
            .live_pricing(account, subscription, period.start())
            .await?;
        let lines = self
            .priced_lines(account, &subscription.customer_id, period, &pricing, None)
            .await?;
        let totals = InvoiceTotals::of(&lines)?;
        Ok((lines, totals))
    }
}
