//! Billing period arithmetic: each case is (anchor, interval, instant) → the
//! expected [start, end).

use tally_event::Timestamp;
use tally_store::{BillingInterval, IntervalUnit};

use super::{PeriodError, nth_period, period_for};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn every(count: u32, unit: IntervalUnit) -> BillingInterval {
    BillingInterval { unit, count }
}

/// Asserts the period of `anchor`/`interval` containing `instant`.
fn check(anchor: &str, interval: BillingInterval, instant: &str, start: &str, end: &str) {
    let period = period_for(at(anchor), interval, at(instant)).unwrap();
    assert_eq!(
        (period.start(), period.end()),
        (at(start), at(end)),
        "{anchor} every {} {:?} at {instant}",
        interval.count,
        interval.unit
    );
}

const MONTHLY: BillingInterval = BillingInterval {
    unit: IntervalUnit::Months,
    count: 1,
};

#[test]
fn month_end_anchor_clamps_and_recovers() {
    let anchor = "2024-01-31T00:00:00Z";
    check(
        anchor,
        MONTHLY,
        "2024-01-31T00:00:00Z",
        "2024-01-31T00:00:00Z",
        "2024-02-29T00:00:00Z",
    );
    check(
        anchor,
        MONTHLY,
        "2024-02-29T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2024-03-31T00:00:00Z",
    );
    check(
        anchor,
        MONTHLY,
        "2024-03-30T23:59:59Z",
        "2024-02-29T00:00:00Z",
        "2024-03-31T00:00:00Z",
    );
    check(
        anchor,
        MONTHLY,
        "2024-04-15T00:00:00Z",
        "2024-03-31T00:00:00Z",
        "2024-04-30T00:00:00Z",
    );
    check(
        anchor,
        MONTHLY,
        "2024-05-31T00:00:00Z",
        "2024-05-31T00:00:00Z",
        "2024-06-30T00:00:00Z",
    );
    // A common year: February ends on the 28th.
    check(
        anchor,
        MONTHLY,
        "2025-02-28T12:00:00Z",
        "2025-02-28T00:00:00Z",
        "2025-03-31T00:00:00Z",
    );
}

#[test]
fn nth_periods_of_a_month_end_anchor() {
    let anchor = at("2024-01-31T00:00:00Z");
    let ends: Vec<String> = (0..4)
        .map(|k| nth_period(anchor, MONTHLY, k).unwrap().end().to_rfc3339())
        .collect();
    assert_eq!(
        ends,
        [
            "2024-02-29T00:00:00.000Z",
            "2024-03-31T00:00:00.000Z",
            "2024-04-30T00:00:00.000Z",
            "2024-05-31T00:00:00.000Z"
        ]
    );
}

#[test]
fn boundaries_are_half_open_and_keep_the_time_of_day() {
    let anchor = "2024-01-15T10:30:00Z";
    check(
        anchor,
        MONTHLY,
        "2024-02-15T10:29:59.999Z",
        "2024-01-15T10:30:00Z",
        "2024-02-15T10:30:00Z",
    );
    check(
        anchor,
        MONTHLY,
        "2024-02-15T10:30:00Z",
        "2024-02-15T10:30:00Z",
        "2024-03-15T10:30:00Z",
    );
}

#[test]
fn quarterly_and_far_instants() {
    let quarterly = every(3, IntervalUnit::Months);
    check(
        "2024-01-01T00:00:00Z",
        quarterly,
        "2024-05-20T00:00:00Z",
        "2024-04-01T00:00:00Z",
        "2024-07-01T00:00:00Z",
    );
    check(
        "2020-11-30T00:00:00Z",
        quarterly,
        "2031-03-01T00:00:00Z",
        "2031-02-28T00:00:00Z",
        "2031-05-30T00:00:00Z",
    );
}

#[test]
fn weeks_are_seven_days_and_days_are_24_hours() {
    let weekly = every(1, IntervalUnit::Weeks);
    check(
        "2024-01-01T00:00:00Z",
        weekly,
        "2024-01-08T00:00:00Z",
        "2024-01-08T00:00:00Z",
        "2024-01-15T00:00:00Z",
    );
    check(
        "2024-01-01T00:00:00Z",
        weekly,
        "2024-03-01T00:00:00Z",
        "2024-02-26T00:00:00Z",
        "2024-03-04T00:00:00Z",
    );
    let fortnightly = every(2, IntervalUnit::Weeks);
    check(
        "2024-01-01T00:00:00Z",
        fortnightly,
        "2024-01-20T00:00:00Z",
        "2024-01-15T00:00:00Z",
        "2024-01-29T00:00:00Z",
    );
    let three_days = every(3, IntervalUnit::Days);
    check(
        "2024-02-27T06:00:00Z",
        three_days,
        "2024-03-01T05:59:59Z",
        "2024-02-27T06:00:00Z",
        "2024-03-01T06:00:00Z",
    );
}

#[test]
fn years_clamp_a_leap_day_anchor() {
    let yearly = every(1, IntervalUnit::Years);
    let anchor = "2024-02-29T00:00:00Z";
    check(
        anchor,
        yearly,
        "2024-06-01T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2025-02-28T00:00:00Z",
    );
    check(
        anchor,
        yearly,
        "2025-03-01T00:00:00Z",
        "2025-02-28T00:00:00Z",
        "2026-02-28T00:00:00Z",
    );
    check(
        anchor,
        yearly,
        "2028-02-29T00:00:00Z",
        "2028-02-29T00:00:00Z",
        "2029-02-28T00:00:00Z",
    );
    check(
        anchor,
        yearly,
        "2028-02-28T23:00:00Z",
        "2027-02-28T00:00:00Z",
        "2028-02-29T00:00:00Z",
    );
}

#[test]
fn before_the_start_and_zero_counts_are_errors() {
    let anchor = at("2024-01-01T00:00:00Z");
    assert_eq!(
        period_for(anchor, MONTHLY, at("2023-12-31T23:59:59Z")),
        Err(PeriodError::BeforeStart)
    );
    assert_eq!(
        period_for(anchor, every(0, IntervalUnit::Days), anchor),
        Err(PeriodError::ZeroCount)
    );
}

#[test]
fn the_end_of_time_is_out_of_range() {
    let anchor = at("9999-12-01T00:00:00Z");
    assert_eq!(
        period_for(anchor, MONTHLY, at("9999-12-15T00:00:00Z")),
        Err(PeriodError::OutOfRange)
    );
}
