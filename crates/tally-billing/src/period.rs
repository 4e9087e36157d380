//! Billing periods: [start + k·interval, start + (k+1)·interval).
//!
//! Every boundary is computed from the anchor (`starts_at`), never from the
//! previous boundary, so a month-end anchor survives short months: Jan 31 →
//! Feb 29 → Mar 31 → Apr 30 → May 31. Months and years keep the anchor's day
//! and time of day and clamp the day to the month's end (a Feb 29 anchor gives
//! Feb 28 in common years); days are 24 h and weeks 7 days, in UTC.

use chrono::{DateTime, Datelike, Months, Utc};
use tally_event::{Period, Timestamp};
use tally_store::{BillingInterval, IntervalUnit, Subscription};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Why no period could be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `at` is before the subscription starts: it has no period yet.
    #[error("the subscription has not started at this date")]
    BeforeStart,
    /// A count of 0 never moves; validated subscriptions never have it.
    #[error("billing interval count must be at least 1")]
    ZeroCount,
    /// The period would end after year 9999.
    #[error("billing period out of range")]
    OutOfRange,
}

/// The billing period of `subscription` that contains `at`.
pub fn period_containing(
    subscription: &Subscription,
    at: Timestamp,
) -> Result<Period, PeriodError> {
    period_for(subscription.starts_at, subscription.billing_interval, at)
}

/// The period of an anchor and interval that contains `at`.
pub fn period_for(
    starts_at: Timestamp,
    interval: BillingInterval,
    at: Timestamp,
) -> Result<Period, PeriodError> {
    if interval.count == 0 {
        return Err(PeriodError::ZeroCount);
    }
    if at < starts_at {
        return Err(PeriodError::BeforeStart);
    }
    let k = first_guess(starts_at, interval, at);
    // The guess is exact for days and weeks and at most one off for months (the
    // day of month and time of day decide); step until the period holds `at`.
    let mut k = k;
    while k > 0 && boundary(starts_at, interval, k)? > at {
        k -= 1;
    }
    while boundary(starts_at, interval, k + 1)? <= at {
        k += 1;
    }
    nth_period(starts_at, interval, k)
}

/// The `k`-th period (0 is the first) of an anchor and interval.
pub fn nth_period(
    starts_at: Timestamp,
    interval: BillingInterval,
    k: u32,
) -> Result<Period, PeriodError> {
    let start = boundary(starts_at, interval, k)?;
    let end = boundary(starts_at, interval, k + 1)?;
    Period::new(start, end).map_err(|_| PeriodError::OutOfRange)
}

fn first_guess(starts_at: Timestamp, interval: BillingInterval, at: Timestamp) -> u32 {
    let count = i64::from(interval.count);
    let elapsed = match interval.unit {
        IntervalUnit::Days => (at.as_millis() - starts_at.as_millis()) / DAY_MS,
        IntervalUnit::Weeks => (at.as_millis() - starts_at.as_millis()) / (7 * DAY_MS),
        IntervalUnit::Months => months_between(starts_at.to_datetime(), at.to_datetime()),
        IntervalUnit::Years => months_between(starts_at.to_datetime(), at.to_datetime()) / 12,
    };
    u32::try_from((elapsed / count).max(0)).unwrap_or(u32::MAX)
}

fn months_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let months = |at: DateTime<Utc>| i64::from(at.year()) * 12 + i64::from(at.month0());
    months(to) - months(from)
}

/// start + k·interval.
fn boundary(
    starts_at: Timestamp,
    interval: BillingInterval,
    k: u32,
) -> Result<Timestamp, PeriodError> {
    let steps = u64::from(k) * u64::from(interval.count);
    let ms = match interval.unit {
        IntervalUnit::Days => add_ms(starts_at, steps, DAY_MS)?,
        IntervalUnit::Weeks => add_ms(starts_at, steps, 7 * DAY_MS)?,
        IntervalUnit::Months => add_months(starts_at, steps)?,
        IntervalUnit::Years => add_months(
            starts_at,
            steps.checked_mul(12).ok_or(PeriodError::OutOfRange)?,
        )?,
    };
    Timestamp::from_millis(ms).map_err(|_| PeriodError::OutOfRange)
}

fn add_ms(starts_at: Timestamp, steps: u64, unit_ms: i64) -> Result<i64, PeriodError> {
    i64::try_from(steps)
        .ok()
        .and_then(|steps| steps.checked_mul(unit_ms))
        .and_then(|ms| starts_at.as_millis().checked_add(ms))
        .ok_or(PeriodError::OutOfRange)
}

fn add_months(starts_at: Timestamp, months: u64) -> Result<i64, PeriodError> {
    let months = u32::try_from(months).map_err(|_| PeriodError::OutOfRange)?;
    // chrono clamps the day to the target month's end, from the anchor each time.
    starts_at
        .to_datetime()
        .checked_add_months(Months::new(months))
        .map(|at| at.timestamp_millis())
        .ok_or(PeriodError::OutOfRange)
}

#[cfg(test)]
mod tests;
