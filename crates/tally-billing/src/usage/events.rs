//! The events behind an aggregator for a customer (seed 002's shape).

use futures::StreamExt;
use tally_aggregate::Aggregator;
use tally_event::{Event, Timestamp};
use tally_store::{AccountId, EventId, StoredEvent};

use crate::error::{BillingError, BillingResult, Problems};
use crate::input::{DateRange, Pagination};
use crate::service::Billing;

/// Which events, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageEventsQuery {
    /// Missing bounds come from the default period, as for the usage total.
    pub range: DateRange,
    /// A filter of this aggregator (`agf_…`); another aggregator's is
    /// `Invalid` (`filter_of_another_aggregator`), an unknown one `Invalid`
    /// with only `unknown_filter` (a `not_found`).
    pub aggregator_filter_id: Option<String>,
    /// Which page (`take` at most 100).
    pub page: Pagination,
}

/// One event behind the quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// The stored event's id (`evt_…`).
    pub id: EventId,
    /// From the aggregator's `custom_event_name`; without one,
    /// `"{event_type} {record.id}"` (e.g. `api_call D32NAA8`).
    pub name: String,
    /// Write it with `Timestamp::to_rfc3339` (`2024-12-20T16:04:11.000Z`).
    pub timestamp: Timestamp,
    /// The stored record (as ingested, masked if the PII policy masks).
    pub payload: serde_json::Value,
}

/// A page of usage events: `meta {total, taken, skipped}` and `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEventsPage {
    /// Events over every page.
    pub total: u64,
    /// Events on this page.
    pub taken: u64,
    /// Events skipped before this page.
    pub skipped: u64,
    /// This page's events, in (timestamp, record id) order.
    pub data: Vec<UsageEvent>,
}

impl Billing {
    /// The customer's events that the aggregator selects in the period (its type,
    /// window, `where` and the optional filter), in (timestamp, record id) order.
    /// Selected events whose property is unusable are listed too: they explain
    /// the diagnostics. Streams once; memory holds one page.
    pub async fn customer_usage_events(
        &self,
        account: &AccountId,
        customer: &str,
        aggregator_id: &str,
        query: &UsageEventsQuery,
    ) -> BillingResult<UsageEventsPage> {
        let mut problems = Problems::default();
        let page = query.page.check(&mut problems);
        problems.finish()?;
        let customer = self.find_customer(account, customer).await?;
        let (record, aggregator) = self.load_aggregator(account, aggregator_id).await?;
        let filter = self
            .checked_filter(account, &aggregator, query.aggregator_filter_id.as_deref())
            .await?;
        let period = self
            .resolve_range(account, &customer.id, &record.id, &query.range)
            .await?;
        let scope = aggregator.scope(aggregator.window(period), filter)?;
        let mut stream =
            self.window_events(account, &customer.id, &aggregator, scope.window(), None);
        let first = page.skip;
        let last = page.skip.saturating_add(u64::from(page.take));
        let mut total = 0u64;
        let mut data = Vec::new();
        while let Some(stored) = stream.next().await {
            let stored = stored?;
            let event = stored.to_event()?;
            if !scope.selects(&event) {
                continue;
            }
            if (first..last).contains(&total) {
                data.push(usage_event(&aggregator, &stored, &event));
            }
            total += 1;
        }
        Ok(UsageEventsPage {
            total,
            taken: data.len() as u64,
            skipped: page.skip,
            data,
        })
    }
}

impl Billing {
    /// The filter id, checked against the aggregator: a filter of another of
    /// the account's aggregators is a 400 problem (`filter_of_another_aggregator`),
    /// one no aggregator has is `unknown_filter` (hence a 404).
    pub(crate) async fn checked_filter<'q>(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        id: Option<&'q str>,
    ) -> BillingResult<Option<&'q str>> {
        match id {
            Some(id) if aggregator.filter(id).is_none() => {
                if self.readers(account).await?.has_filter(id) {
                    Err(BillingError::invalid(
                        "/aggregator_filter_id",
                        "filter_of_another_aggregator",
                        "this filter belongs to another aggregator",
                    ))
                } else {
                    Err(unknown_filter())
                }
            }
            other => Ok(other),
        }
    }
}

pub(crate) fn unknown_filter() -> BillingError {
    BillingError::invalid(
        "/aggregator_filter_id",
        "unknown_filter",
        "not a filter of this aggregator",
    )
}

fn usage_event(aggregator: &Aggregator, stored: &StoredEvent, event: &Event) -> UsageEvent {
    let name = aggregator.event_name(event).unwrap_or_else(|| {
        format!(
            "{} {}",
            stored.event_type.as_str(),
            stored.record_id().as_str()
        )
    });
    UsageEvent {
        id: stored.id.clone(),
        name,
        timestamp: stored.timestamp,
        payload: stored.record.to_json(),
    }
}
