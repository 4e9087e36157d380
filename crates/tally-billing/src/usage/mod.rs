//! Usage: quantities of a customer per aggregator, the events behind them, and
//! time series.
//!
//! Every read of a period goes through `Billing::window_events` or
//! `Billing::window_quantity`: metered aggregators read each key's current
//! version, licensed ones each entity as it was at the period's end, so a
//! later update or soft deletion never changes a past period. Totals come
//! from the store's `aggregate_as_of` and series from `time_series` (pushed
//! down to SQL by the backends that can); the events behind a total, and the
//! usage a simulation prices on top of, are streamed through the pure
//! evaluator, so memory stays flat whatever their number.

mod events;
mod progress;
mod summary;
mod timeseries;

pub use events::{UsageEvent, UsageEventsPage, UsageEventsQuery};
pub use progress::{MarkKind, UsageMark, UsagePoint, UsageProgress};
pub(crate) use summary::range_or_invalid;
pub use summary::{AggregatorUsage, UsageSummary};
pub use timeseries::{MAX_TIME_SERIES_BUCKETS, TimeSeries, TimeSeriesPoint, TimeSeriesQuery};

use chrono::{Datelike, Months, NaiveDate};
use futures::stream::BoxStream;
use tally_aggregate::{AggregateResult, Aggregator, Window};
use tally_event::{Period, Timestamp};
use tally_store::{
    AccountId, AggregatorFilterId, AggregatorId, AsOf, CustomerId, EventSeq, EventWindow,
    ProductKind, StoreResult, StoredEvent, Subscription,
};

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
    /// The customer's events of the aggregator's type in `window`, as billing
    /// reads them (docs/billing.md, "Which events a period reads"): each
    /// key's current version for a metered range, each entity as it was just
    /// before the end for a licensed window; as known at `known_at`, or now.
    pub(crate) fn window_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &Aggregator,
        window: Window,
        known_at: Option<EventSeq>,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        let window = event_window(window);
        self.store.stream_events_as_of(
            account,
            Some(customer),
            aggregator.event_type(),
            window,
            AsOf::for_window(window, known_at),
        )
    }

    /// The aggregator's quantity over the events [`Billing::window_events`]
    /// reads (a current metered read is pushed down to the database).
    pub(crate) async fn window_quantity(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
        known_at: Option<EventSeq>,
    ) -> BillingResult<AggregateResult> {
        let as_of = AsOf::for_window(event_window(window), known_at);
        Ok(self
            .store
            .aggregate_as_of(account, aggregator, filter, customer, window, as_of)
            .await?)
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
        aggregator: &AggregatorId,
        at: Timestamp,
    ) -> BillingResult<Period> {
        Ok(self
            .default_periods(account, customer, at)
            .await?
            .of(aggregator))
    }

    /// Every aggregator's default period for a customer at `at`, from one
    /// read of its subscriptions and their products.
    pub(crate) async fn default_periods(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        at: Timestamp,
    ) -> BillingResult<DefaultPeriods> {
        let mut found: Vec<(AggregatorId, Period)> = Vec::new();
        for subscription in self.active_subscriptions(account, customer, at).await? {
            for product_id in &subscription.product_ids {
                let product = match self.store.get_product(account, product_id).await {
                    Ok(product) => product,
                    Err(tally_store::StoreError::NotFound { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
                let Some(aggregator) = product
                    .aggregator_id
                    .filter(|_| product.kind == ProductKind::Usage)
                else {
                    continue;
                };
                if found.iter().all(|(known, _)| *known != aggregator) {
                    let period = period_containing(&subscription, at)
                        .map_err(|e| BillingError::Evaluation(e.to_string()))?;
                    found.push((aggregator, period));
                }
            }
        }
        Ok(DefaultPeriods {
            found,
            otherwise: calendar_month(at)?,
        })
    }
}

/// Each aggregator's default period for one customer at one instant
/// ([`Billing::default_periods`]).
pub(crate) struct DefaultPeriods {
    /// The period of the oldest started subscription using each aggregator.
    found: Vec<(AggregatorId, Period)>,
    /// The calendar month, for any other aggregator.
    otherwise: Period,
}

impl DefaultPeriods {
    /// The default period of `aggregator`.
    pub(crate) fn of(&self, aggregator: &AggregatorId) -> Period {
        self.found
            .iter()
            .find(|(known, _)| known == aggregator)
            .map_or(self.otherwise, |(_, period)| *period)
    }
}
