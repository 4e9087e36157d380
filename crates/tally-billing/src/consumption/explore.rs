//! One page of a price group's events, optionally only those inside a span of
//! the period: the explorer's table (docs/portal.md, "Explore consumption").
//!
//! Amounts are the ones the whole period bills (a marginal tier's share
//! depends on every earlier event), so a span narrows the rows shown, never
//! how they are priced: the rows are walked from the period's start and the
//! walk stops at the span's end.

use futures::StreamExt;
use tally_event::Period;
use tally_store::{AccountId, PageRequest};

use super::ConsumedEvent;
use super::ProductConsumption;
use crate::error::{BillingError, BillingResult};
use crate::input::Pagination;
use crate::service::Billing;

/// A page of one group's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsPage {
    /// This page's events, in (timestamp, record id) order.
    pub events: Vec<ConsumedEvent>,
    /// Events of the group inside the span (all of them without one), over
    /// every page.
    pub matched: u64,
    /// Minor units billed for those events: with no span, the group's
    /// subtotal less its unattributed part.
    pub matched_amount: i64,
    /// Events skipped before this page.
    pub skipped: u64,
}

impl Billing {
    /// The `page` of group `group`'s events whose timestamps fall in `span`
    /// (`None`: every event of the period). Without a span the walk stops at
    /// the page's end; with one, at the span's end, to count what it holds.
    pub async fn group_events_page(
        &self,
        account: &AccountId,
        planned: &ProductConsumption,
        group: usize,
        span: Option<Period>,
        page: Pagination,
    ) -> BillingResult<EventsPage> {
        let page = page.to_page_request()?;
        self.events_page(account, planned, group, span, page).await
    }

    pub(super) async fn events_page(
        &self,
        account: &AccountId,
        planned: &ProductConsumption,
        group: usize,
        span: Option<Period>,
        page: PageRequest,
    ) -> BillingResult<EventsPage> {
        let totals = planned
            .groups
            .get(group)
            .ok_or(BillingError::not_found("price_group"))?;
        let mut rows = self.consumption_rows(account, planned, group)?;
        let last = page.skip.saturating_add(u64::from(page.take));
        let mut matched = 0u64;
        let mut matched_amount = 0i64;
        let mut events = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row?;
            let at = row.event.timestamp;
            if span.is_some_and(|span| at >= span.end()) {
                break;
            }
            if span.is_some_and(|span| at < span.start()) {
                continue;
            }
            if (page.skip..last).contains(&matched) {
                events.push(ConsumedEvent {
                    name: row.name,
                    id: row.event.id.clone(),
                    timestamp: at,
                    quantity: row.quantity,
                    amount: row.amount,
                    payload: row.event.record.to_json(),
                });
            }
            matched += 1;
            matched_amount = matched_amount
                .checked_add(row.amount)
                .ok_or_else(|| BillingError::Evaluation("amount out of range".into()))?;
            if span.is_none() && matched >= last {
                break;
            }
        }
        if span.is_none() {
            matched = totals.events;
            matched_amount = totals.subtotal - totals.unattributed;
        }
        Ok(EventsPage {
            events,
            matched,
            matched_amount,
            skipped: page.skip,
        })
    }
}
