//! Usage: quantities of a customer per aggregator, the events behind them, and
//! time series.
//!
//! Totals and series come from the store's `aggregate` and `time_series`
//! (pushed down to SQL by the backends that can). The events behind a total,
//! and the usage a simulation prices on top of, are streamed (`stream_events`)
//! through the pure evaluator, so memory stays flat whatever their number.

mod events;
mod summary;
mod timeseries;

pub use events::{UsageEvent, UsageEventsPage, UsageEventsQuery};
pub(crate) use summary::range_or_invalid;
pub use summary::{AggregatorUsage, UsageSummary};
pub use timeseries::{MAX_TIME_SERIES_BUCKETS, TimeSeries, TimeSeriesPoint, TimeSeriesQuery};

use chrono::{Datelike, Months, NaiveDate};
use futures::StreamExt;
use tally_aggregate::{Accumulator, Aggregator, Window};
use tally_event::{EventKey, Period, Timestamp};
use tally_store::{AccountId, CustomerId, EventWindow, ProductKind, Subscription};

use crate::error::{BillingError, BillingResult};
use crate::period::period_containing;
use crate::service::Billing;

pub(crate) fn event_window(window: Window) -> EventWindow {
    match window {
        Window::Range(period) => EventWindow::Range(period),
        Window::Before(end) => EventWindow::Before(end),
    }
}

/// The calendar month (UTC) containing `at`: the default period of a customer
/// without a subscription.
pub fn calendar_month(at: Timestamp) -> BillingResult<Period> {
    let date = at.to_datetime().date_naive();
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
        .and_then(|first| first.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc());
    let next = first.and_then(|first| first.checked_add_months(Months::new(1)));
    let (Some(first), Some(next)) = (first, next) else {
        return Err(BillingError::Evaluation(
            "calendar month out of range".into(),
        ));
    };
    let start =
        Timestamp::from_datetime(first).map_err(|e| BillingError::Evaluation(e.to_string()))?;
    let end =
        Timestamp::from_datetime(next).map_err(|e| BillingError::Evaluation(e.to_string()))?;
    Period::new(start, end).map_err(|e| BillingError::Evaluation(e.to_string()))
}

impl Billing {
    /// An accumulator fed with the customer's stored events in `window`, the
    /// stored event with key `exclude` left out (pricing its replacement).
    pub(crate) async fn accumulate<'a>(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &'a Aggregator,
        window: Window,
        filter: Option<&str>,
        exclude: Option<&EventKey>,
    ) -> BillingResult<Accumulator<'a>> {
        let mut accumulator = aggregator.accumulator(window, filter)?;
        let mut stream = self.store.stream_events(
            account,
            customer,
            aggregator.event_type(),
            event_window(window),
        );
        while let Some(stored) = stream.next().await {
            let stored = stored?;
            if exclude.is_some_and(|key| {
                stored.event_type == key.event_type && *stored.record_id() == key.record_id
            }) {
                continue;
            }
            accumulator.push(&stored.to_event()?);
        }
        Ok(accumulator)
    }

    /// The customer's subscriptions that have started at `at`, oldest first.
    pub(crate) async fn active_subscriptions(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        at: Timestamp,
    ) -> BillingResult<Vec<Subscription>> {
        let all = self.all_subscriptions(account, Some(customer)).await?;
        Ok(all.into_iter().filter(|s| s.starts_at <= at).collect())
    }

    /// The default period of an aggregator for a customer at `at`: the period of
    /// the oldest started subscription with a usage product on this aggregator,
    /// else the calendar month (UTC).
    pub(crate) async fn default_period(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &tally_store::AggregatorId,
        at: Timestamp,
    ) -> BillingResult<Period> {
        for subscription in self.active_subscriptions(account, customer, at).await? {
            for product_id in &subscription.product_ids {
                let product = match self.store.get_product(account, product_id).await {
                    Ok(product) => product,
                    Err(tally_store::StoreError::NotFound { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
                if product.kind == ProductKind::Usage
                    && product.aggregator_id.as_ref() == Some(aggregator)
                {
                    return period_containing(&subscription, at)
                        .map_err(|e| BillingError::Evaluation(e.to_string()));
                }
            }
        }
        calendar_month(at)
    }
}
