//! An aggregator's quantity per hour, day or month over a range.

use rust_decimal::Decimal;
use tally_aggregate::{AggregateResult, Bucket};
use tally_event::{Period, Timestamp};
use tally_store::{AccountId, AggregatorFilterId, AggregatorId};

use super::calendar_month;
use super::events::unknown_filter;
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
    /// The range; missing bounds: the current calendar month, UTC.
    pub range: DateRange,
    /// `hour`, `day` (default) or `month`; at most [`MAX_TIME_SERIES_BUCKETS`] buckets.
    pub group_by: Option<String>,
    /// Only this filter's events (`agf_…`, a filter of the aggregator).
    pub aggregator_filter_id: Option<String>,
    /// Only this customer's events (`cus_` id or external id); default: every customer.
    pub customer_id: Option<String>,
}

/// One bucket: [start, end) clipped to the range (the first may start before it:
/// buckets start on UTC boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSeriesPoint {
    /// Start of the bucket, inclusive.
    pub start: Timestamp,
    /// End of the bucket, exclusive.
    pub end: Timestamp,
    /// The aggregated quantity over the bucket alone.
    pub total: Decimal,
    /// The number of events behind it.
    pub count: u64,
}

/// An aggregator's quantity per hour, day or month over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSeries {
    /// The aggregator's id (`agg_…`).
    pub aggregator_id: AggregatorId,
    /// The bucket size.
    pub group_by: Bucket,
    /// Start of the range, inclusive.
    pub period_start: Timestamp,
    /// End of the range, exclusive.
    pub period_end: Timestamp,
    /// One per bucket, in time order, empty buckets included.
    pub points: Vec<TimeSeriesPoint>,
}

impl Billing {
    /// `GET /v1/aggregators/{id}/usage/timeseries`. Every bucket is present
    /// (empty ones are 0). The store computes the buckets (`time_series`), of
    /// one customer or of all.
    pub async fn aggregator_time_series(
        &self,
        account: &AccountId,
        aggregator_id: &str,
        query: &TimeSeriesQuery,
    ) -> BillingResult<TimeSeries> {
        let (range, bucket) = checked_query(query, calendar_month(self.now())?)?;
        let (record, aggregator) = self.load_aggregator(account, aggregator_id).await?;
        let filter = self
            .checked_filter(account, &aggregator, query.aggregator_filter_id.as_deref())
            .await?;
        let filter = filter
            .map(AggregatorFilterId::parse)
            .transpose()
            .map_err(|_| unknown_filter())?;
        let customer = match query.customer_id.as_deref() {
            Some(reference) => Some(self.find_customer(account, reference).await?.id),
            None => None,
        };
        let series = self
            .store
            .time_series(
                account,
                &aggregator,
                filter.as_ref(),
                customer.as_ref(),
                range,
                bucket,
            )
            .await?;
        let points = points(series, range.end());
        Ok(TimeSeries {
            aggregator_id: record.id,
            group_by: bucket,
            period_start: range.start(),
            period_end: range.end(),
            points,
        })
    }
}

/// The range (missing bounds from `default`) and the bucket, or every problem.
fn checked_query(query: &TimeSeriesQuery, default: Period) -> BillingResult<(Period, Bucket)> {
    let mut problems = Problems::default();
    let range = query.range.resolve(default, &mut problems);
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
    range.zip(bucket).ok_or_else(|| {
        BillingError::invalid("/start_date", "invalid_timestamp", "invalid date range")
    })
}

/// Buckets with their ends: the next bucket's start, the range's end for the last.
fn points(series: Vec<(Timestamp, AggregateResult)>, range_end: Timestamp) -> Vec<TimeSeriesPoint> {
    let ends: Vec<Timestamp> = series
        .iter()
        .skip(1)
        .map(|(start, _)| *start)
        .chain([range_end])
        .collect();
    series
        .into_iter()
        .zip(ends)
        .map(|((start, result), end)| TimeSeriesPoint {
            start,
            end,
            total: result.quantity.normalize(),
            count: result.event_count,
        })
        .collect()
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
