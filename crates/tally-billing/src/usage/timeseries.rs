//! An aggregator's quantity per hour, day or month over a range.

use futures::StreamExt;
use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Bucket, time_series};
use tally_event::{Event, Period, Timestamp};
use tally_store::{AccountId, AggregatorId, CustomerId, PageRequest};

use super::{calendar_month, event_window, events::checked_filter};
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::DateRange;
use crate::service::Billing;

/// Most buckets one series may have: a month of hours fits, a year of hours
/// does not (ask for days).
pub const MAX_TIME_SERIES_BUCKETS: i64 = 1000;

const HOUR_MS: i64 = 3_600_000;

/// `start_date`, `end_date` (default: the current calendar month, UTC),
/// `group_by` (`hour`, `day` (default) or `month`), an optional filter, and an
/// optional customer (`cus_` id or external id; default: every customer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeSeriesQuery {
    pub range: DateRange,
    pub group_by: Option<String>,
    pub aggregator_filter_id: Option<String>,
    pub customer_id: Option<String>,
}

/// One bucket: [start, end) clipped to the range (the first may start before it:
/// buckets start on UTC boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSeriesPoint {
    pub start: Timestamp,
    pub end: Timestamp,
    pub total: Decimal,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSeries {
    pub aggregator_id: AggregatorId,
    pub group_by: Bucket,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub points: Vec<TimeSeriesPoint>,
}

impl Billing {
    /// `GET /v1/aggregators/{id}/usage/timeseries`. Every bucket is present
    /// (empty ones are 0). Across customers the events are gathered in memory:
    /// pass a customer for large accounts.
    pub async fn aggregator_time_series(
        &self,
        account: &AccountId,
        aggregator_id: &str,
        query: &TimeSeriesQuery,
    ) -> BillingResult<TimeSeries> {
        let mut problems = Problems::default();
        let range = query
            .range
            .resolve(calendar_month(self.now())?, &mut problems);
        let bucket = match query.group_by.as_deref() {
            None => Some(Bucket::Day),
            Some(text) => Bucket::parse(text).or_else(|| {
                problems.push(
                    "/group_by",
                    "invalid_value",
                    "group_by must be hour, day or month",
                );
                None
            }),
        };
        if let (Some(range), Some(bucket)) = (range, bucket)
            && bucket_count(range, bucket) > MAX_TIME_SERIES_BUCKETS
        {
            problems.push(
                "/group_by",
                "too_many_buckets",
                format!("at most {MAX_TIME_SERIES_BUCKETS} buckets: use a shorter range or a larger group_by"),
            );
        }
        problems.finish()?;
        let (Some(range), Some(bucket)) = (range, bucket) else {
            return Err(BillingError::invalid(
                "/start_date",
                "invalid_date",
                "invalid date range",
            ));
        };
        let (record, aggregator) = self.load_aggregator(account, aggregator_id).await?;
        let filter = checked_filter(&aggregator, query.aggregator_filter_id.as_deref())?;
        let customers = self
            .series_customers(account, query.customer_id.as_deref())
            .await?;
        let events = self
            .gather_events(account, &customers, &aggregator, range)
            .await?;
        let series = time_series(&aggregator, range, bucket, filter, &events)?;
        let ends: Vec<Timestamp> = series
            .iter()
            .skip(1)
            .map(|(start, _)| *start)
            .chain([range.end()])
            .collect();
        let points = series
            .into_iter()
            .zip(ends)
            .map(|((start, result), end)| TimeSeriesPoint {
                start,
                end,
                total: result.quantity.normalize(),
                count: result.event_count,
            })
            .collect();
        Ok(TimeSeries {
            aggregator_id: record.id,
            group_by: bucket,
            period_start: range.start(),
            period_end: range.end(),
            points,
        })
    }

    /// One customer (an unknown one is `NotFound`), or every customer.
    async fn series_customers(
        &self,
        account: &AccountId,
        customer: Option<&str>,
    ) -> BillingResult<Vec<CustomerId>> {
        if let Some(reference) = customer {
            return Ok(vec![self.find_customer(account, reference).await?.id]);
        }
        let mut ids = Vec::new();
        loop {
            let request = PageRequest {
                take: tally_store::MAX_TAKE,
                skip: ids.len() as u64,
            };
            let page = self.store.list_customers(account, request).await?;
            let fetched = page.items.len();
            ids.extend(page.items.into_iter().map(|customer| customer.id));
            if fetched == 0 || ids.len() as u64 >= page.total {
                return Ok(ids);
            }
        }
    }

    async fn gather_events(
        &self,
        account: &AccountId,
        customers: &[CustomerId],
        aggregator: &Aggregator,
        range: Period,
    ) -> BillingResult<Vec<Event>> {
        let window = event_window(aggregator.window(range));
        let mut events = Vec::new();
        for customer in customers {
            let mut stream =
                self.store
                    .stream_events(account, customer, aggregator.event_type(), window);
            while let Some(stored) = stream.next().await {
                events.push(stored?.to_event()?);
            }
        }
        Ok(events)
    }
}

/// An upper bound of the number of buckets covering `range`.
fn bucket_count(range: Period, bucket: Bucket) -> i64 {
    let span = range.end().as_millis() - range.start().as_millis();
    match bucket {
        Bucket::Hour => span / HOUR_MS + 2,
        Bucket::Day => span / (24 * HOUR_MS) + 2,
        Bucket::Month => span / (28 * 24 * HOUR_MS) + 2,
    }
}
