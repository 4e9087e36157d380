//! Subscriptions and their billing periods (docs/billing.md).

use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_billing::period::period_for;
use tally_billing::{BillingIntervalInput, PeriodError, SubscriptionInput};
use tally_event::{Period, Timestamp};
use tally_store::{BillingInterval, IntervalUnit};

/// Largest interval count the API accepts.
pub const MAX_INTERVAL_COUNT: u32 = 1000;

/// A subscription's anchor and interval, and an instant at or after the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionCase {
    /// `starts_at`: the anchor of every period.
    pub starts_at: Timestamp,
    /// `billing_interval`.
    pub interval: BillingInterval,
    /// An instant at or after `starts_at`, at most about 20 years later.
    pub at: Timestamp,
}

impl SubscriptionCase {
    /// The billing period that contains [`SubscriptionCase::at`].
    pub fn period(&self) -> Result<Period, PeriodError> {
        period_for(self.starts_at, self.interval, self.at)
    }

    /// The create body of this subscription for a customer and products that
    /// exist, in `currency`, with `tax_rate` (percent).
    ///
    /// ```
    /// use proptest::prelude::*;
    ///
    /// proptest!(|(case in tally_testkit::subscription())| {
    ///     let input = case.input("acme", &["itm_1".to_owned()], "EUR", None);
    ///     prop_assert_eq!(input.starts_at, Some(case.starts_at.to_rfc3339()));
    /// });
    /// ```
    pub fn input(
        &self,
        customer_id: &str,
        product_ids: &[String],
        currency: &str,
        tax_rate: Option<Decimal>,
    ) -> SubscriptionInput {
        SubscriptionInput {
            customer_id: Some(customer_id.to_owned()),
            product_ids: product_ids.to_vec(),
            starts_at: Some(self.starts_at.to_rfc3339()),
            billing_interval: Some(BillingIntervalInput {
                period: Some(self.interval.unit.as_str().to_owned()),
                count: Some(i64::from(self.interval.count)),
            }),
            tax_rate,
            currency: Some(currency.to_owned()),
        }
    }
}

/// Any interval unit.
pub fn interval_unit() -> impl Strategy<Value = IntervalUnit> {
    prop::sample::select(vec![
        IntervalUnit::Days,
        IntervalUnit::Weeks,
        IntervalUnit::Months,
        IntervalUnit::Years,
    ])
}

/// A billing interval: every unit, counts 1..=12 mostly, up to 1000 sometimes.
pub fn interval() -> impl Strategy<Value = BillingInterval> {
    let count = prop_oneof![8 => 1_u32..=12, 1 => 1..=MAX_INTERVAL_COUNT, 1 => Just(1)];
    (interval_unit(), count).prop_map(|(unit, count)| BillingInterval { unit, count })
}

/// An anchor between 2000 and 2100: any instant, or a day 28..=31 of a month (the
/// days month arithmetic clamps) at a whole or arbitrary time of day.
pub fn anchor() -> impl Strategy<Value = Timestamp> {
    // 2000-01-01 .. 2100-01-01, in milliseconds.
    const FROM: i64 = 946_684_800_000;
    const TO: i64 = 4_102_444_800_000;
    let month_end = (
        2000_i32..2100,
        1_u32..=12,
        28_u32..=31,
        0_u32..86_400,
        any::<bool>(),
    )
        .prop_filter_map("a real date", |(year, month, day, second, whole_day)| {
            let date = NaiveDate::from_ymd_opt(year, month, day)?;
            let second = if whole_day { 0 } else { second };
            let time = NaiveTime::from_num_seconds_from_midnight_opt(second, 0)?;
            Timestamp::from_datetime(date.and_time(time).and_utc()).ok()
        });
    prop_oneof![
        3 => (FROM..TO).prop_map(|ms| Timestamp::from_millis(ms).expect("in range")),
        2 => month_end,
    ]
}

/// Subscriptions with an instant inside one of their periods: the anchor itself
/// with some weight, else up to 20 years after it.
///
/// ```
/// use proptest::prelude::*;
///
/// proptest!(|(case in tally_testkit::subscription())| {
///     prop_assert!(case.period().unwrap().contains(case.at));
/// });
/// ```
pub fn subscription() -> BoxedStrategy<SubscriptionCase> {
    const TWENTY_YEARS_MS: i64 = 20 * 366 * 86_400_000;
    let offset = prop_oneof![1 => Just(0_i64), 8 => 0..TWENTY_YEARS_MS];
    (anchor(), interval(), offset)
        .prop_map(|(starts_at, interval, offset)| SubscriptionCase {
            starts_at,
            interval,
            at: Timestamp::from_millis(starts_at.as_millis() + offset).expect("before 2121"),
        })
        .boxed()
}
