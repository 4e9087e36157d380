//! A customer's usage through its current period, day by day, with the lines
//! that usage is compared with: what the portal's chart draws
//! (docs/portal.md, "The usage chart").
//!
//! Each point is the usage from the period's start to the end of a day (the
//! last one: to now), read exactly as a usage read or a limit check reads it,
//! so the curve meets a threshold line on the day the threshold was crossed
//! whatever the operation (a `max` or a `unique_count` is not a running sum
//! of daily figures). Where a running sum is exact (a `count`, a `sum` never
//! clamped at zero), the points come from one daily series instead of one
//! read per day.

use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Bucket, Operation, Window};
use tally_event::{Period, Timestamp};
use tally_store::{AccountId, AggregatorId, CustomerId, Feature, FeatureValue, ProductKind};

use crate::error::{BillingError, BillingResult};
use crate::period::period_containing;
use crate::service::{Billing, compile_stored};

const DAY_MS: i64 = 86_400_000;

/// One aggregator's usage through a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageProgress {
    /// The aggregator charted (`agg_…`).
    pub aggregator_id: AggregatorId,
    /// Its name.
    pub name: String,
    /// The unit of its quantities, as defined.
    pub unit_name: Option<String>,
    /// The period, `[start, end)`.
    pub period: Period,
    /// Usage from the period's start to each point's instant, in time order:
    /// one per day that has started, the last one at now.
    pub points: Vec<UsagePoint>,
    /// The values usage is compared with, lowest first.
    pub marks: Vec<UsageMark>,
}

/// The usage from the period's start to `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsagePoint {
    /// The end of the span counted, exclusive.
    pub at: Timestamp,
    /// The aggregated quantity over `[period start, at)`.
    pub quantity: Decimal,
}

/// A value the usage is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageMark {
    /// What it is (`Alert at 1000`, `API calls limit`).
    pub label: String,
    /// The value.
    pub value: Decimal,
    /// A threshold of the aggregator, or a limit of the customer.
    pub kind: MarkKind,
}

/// Where a mark comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// One of the aggregator's thresholds, or a percent of a limit.
    Threshold,
    /// A usage limit of the customer (a number feature naming the aggregator).
    Limit,
}

impl Billing {
    /// Each usage aggregator of the subscription's products (once, in product
    /// order) through the period containing now; empty before the
    /// subscription starts. Limits are the customer's usage limits on the
    /// whole aggregator (a limit on one filter is not this curve's).
    pub async fn usage_progress(
        &self,
        account: &AccountId,
        subscription_id: &str,
    ) -> BillingResult<Vec<UsageProgress>> {
        let subscription = self.get_subscription(account, subscription_id).await?;
        let now = self.now();
        let Ok(period) = period_containing(&subscription, now) else {
            return Ok(Vec::new());
        };
        let pricing = self
            .live_pricing(account, &subscription, period.start())
            .await?;
        let grants = self.grants(account, &subscription.customer_id, now).await?;
        let features = self.all_features(account).await?;
        let mut charts: Vec<UsageProgress> = Vec::new();
        for priced in &pricing.products {
            let (ProductKind::Usage, Some(record)) = (&priced.product.kind, &priced.aggregator)
            else {
                continue;
            };
            if charts.iter().any(|chart| chart.aggregator_id == record.id) {
                continue;
            }
            let aggregator = compile_stored(record)?;
            let points = self
                .points(account, &subscription.customer_id, &aggregator, period, now)
                .await?;
            let limits = features.iter().filter(|feature| {
                feature.aggregator_id.as_ref() == Some(&record.id)
                    && feature.aggregator_filter_id.is_none()
            });
            let mut marks = threshold_marks(&aggregator);
            for feature in limits {
                if let FeatureValue::Number(limit) = grants.resolve(feature, now).value {
                    marks.extend(limit_marks(feature, limit));
                }
            }
            marks.sort_by_key(|mark| mark.value);
            charts.push(UsageProgress {
                aggregator_id: record.id.clone(),
                name: record.name.clone(),
                unit_name: aggregator.unit_name().map(str::to_owned),
                period,
                points,
                marks,
            });
        }
        Ok(charts)
    }
}

impl Billing {
    /// The customer's usage from the period's start to each day's end.
    async fn points(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &Aggregator,
        period: Period,
        now: Timestamp,
    ) -> BillingResult<Vec<UsagePoint>> {
        let ends = day_ends(period, now)?;
        if let Some(points) = self
            .summed_points(account, customer, aggregator, period, &ends)
            .await?
        {
            return Ok(points);
        }
        let mut points = Vec::with_capacity(ends.len());
        for at in ends {
            let span = Period::new(period.start(), at).map_err(evaluation)?;
            let result = self
                .window_quantity(
                    account,
                    aggregator,
                    None,
                    customer,
                    aggregator.window(span),
                    None,
                )
                .await?;
            points.push(UsagePoint {
                at,
                quantity: result.quantity.normalize(),
            });
        }
        Ok(points)
    }

    /// The points from one daily series, added up day after day, where that
    /// is exact: a `count`, or a `sum` none of whose days was clamped at
    /// zero (then every prefix is at least zero and needs no clamping
    /// either), over a metered window. `None` otherwise: each point is then
    /// its own read.
    async fn summed_points(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &Aggregator,
        period: Period,
        ends: &[Timestamp],
    ) -> BillingResult<Option<Vec<UsagePoint>>> {
        let additive = matches!(aggregator.operation(), Operation::Count | Operation::Sum);
        let Some(&last) = ends.last() else {
            return Ok(Some(Vec::new()));
        };
        let span = Period::new(period.start(), last).map_err(evaluation)?;
        if !additive || !matches!(aggregator.window(span), Window::Range(_)) {
            return Ok(None);
        }
        let series = self
            .store
            .time_series(account, aggregator, None, Some(customer), span, Bucket::Day)
            .await?;
        if series
            .iter()
            .any(|(_, day)| day.diagnostics.clamped_from.is_some())
        {
            return Ok(None);
        }
        let mut points = Vec::with_capacity(ends.len());
        for &at in ends {
            let mut quantity = Decimal::ZERO;
            for (_, day) in series.iter().filter(|(start, _)| *start < at) {
                quantity = quantity
                    .checked_add(day.quantity)
                    .ok_or_else(|| evaluation("usage out of range"))?;
            }
            points.push(UsagePoint {
                at,
                quantity: quantity.normalize(),
            });
        }
        Ok(Some(points))
    }
}

fn threshold_marks(aggregator: &Aggregator) -> Vec<UsageMark> {
    aggregator
        .thresholds()
        .iter()
        .map(|threshold| UsageMark {
            label: threshold.name.clone(),
            value: threshold.value,
            kind: MarkKind::Threshold,
        })
        .collect()
}

/// The limit itself, and each of its threshold percents below 100 %.
fn limit_marks(feature: &Feature, limit: Decimal) -> Vec<UsageMark> {
    let mut marks = vec![UsageMark {
        label: format!("{} limit", feature.name),
        value: limit,
        kind: MarkKind::Limit,
    }];
    for percent in &feature.threshold_percents {
        if *percent < Decimal::ONE_HUNDRED {
            marks.push(UsageMark {
                label: format!("{}% of {} limit", percent.normalize(), feature.name),
                value: (limit * percent / Decimal::ONE_HUNDRED).normalize(),
                kind: MarkKind::Threshold,
            });
        }
    }
    marks
}

/// The end of each day of `period` that has started by `now` (UTC days,
/// counted from the period's start), the last one cut at `now`: at least one
/// instant, after the period's start.
fn day_ends(period: Period, now: Timestamp) -> BillingResult<Vec<Timestamp>> {
    let last = now
        .as_millis()
        .clamp(period.start().as_millis() + 1, period.end().as_millis());
    let mut ends = Vec::new();
    let mut at = period.start().as_millis();
    while at < last {
        at = (at - at.rem_euclid(DAY_MS) + DAY_MS).min(last);
        ends.push(Timestamp::from_millis(at).map_err(evaluation)?);
    }
    Ok(ends)
}

fn evaluation(error: impl std::fmt::Display) -> BillingError {
    BillingError::Evaluation(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn ends(start: &str, end: &str, now: &str) -> Vec<String> {
        let period = Period::new(at(start), at(end)).unwrap();
        day_ends(period, at(now))
            .unwrap()
            .into_iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    #[test]
    fn one_point_per_started_day_the_last_at_now() {
        assert_eq!(
            ends(
                "2024-12-01T00:00:00Z",
                "2025-01-01T00:00:00Z",
                "2024-12-03T10:00:00Z"
            ),
            [
                "2024-12-02T00:00:00.000Z",
                "2024-12-03T00:00:00.000Z",
                "2024-12-03T10:00:00.000Z"
            ]
        );
    }

    #[test]
    fn a_period_starting_mid_day_ends_its_first_day_at_midnight() {
        assert_eq!(
            ends(
                "2024-12-01T12:00:00Z",
                "2024-12-03T12:00:00Z",
                "2025-02-01T00:00:00Z"
            ),
            [
                "2024-12-02T00:00:00.000Z",
                "2024-12-03T00:00:00.000Z",
                "2024-12-03T12:00:00.000Z"
            ]
        );
    }

    #[test]
    fn now_at_the_start_still_gives_one_point() {
        assert_eq!(
            ends(
                "2024-12-01T00:00:00Z",
                "2025-01-01T00:00:00Z",
                "2024-12-01T00:00:00Z"
            ),
            ["2024-12-01T00:00:00.001Z"]
        );
    }
}
