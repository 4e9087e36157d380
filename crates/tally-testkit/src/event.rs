//! Valid events in every accepted wire form, relative to a given `now`.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use proptest::prelude::*;
use serde_json::Value as Json;
use tally_event::{
    CustomerRef, Event, EventType, MAX_EVENT_TYPE_CHARS, MAX_ID_CHARS, PiiPolicy,
    SECONDS_HINT_BELOW_MS, Timestamp, ValidationConfig, Value,
};

use crate::record::{RecordConfig, record_with, regex};

/// 2025-01-01T00:00:00Z, the default `now` of [`EventConfig`].
pub const DEFAULT_NOW_MS: i64 = 1_735_689_600_000;
/// 2020-01-01T00:00:00Z, the default start of [`EventConfig`]'s time range.
pub const DEFAULT_FROM_MS: i64 = 1_577_836_800_000;
/// Last instant a timestamp may name: 9999-12-31T23:59:59.999Z.
pub(crate) const MAX_MS: i64 = 253_402_300_799_999;
/// A day: offsets of up to ±23:59 must not move a local date past year 0001..=9999.
const DAY_MS: i64 = 86_400_000;

/// What [`valid_event`] and [`crate::invalid_event`] generate.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// Event types to pick from; empty: any valid type (1..=100 characters of
    /// `[A-Za-z0-9_.:-]`).
    pub event_types: Vec<String>,
    /// Customer references to pick from; empty: any valid one (1..=255 characters).
    pub customers: Vec<String>,
    /// Earliest timestamp generated.
    pub from: Timestamp,
    /// Latest timestamp generated; lowered to `now` + the allowed skew when it is
    /// later, so every generated timestamp passes the future check.
    pub to: Timestamp,
    /// The validator's current time, as passed to `parse_event`.
    pub now: Timestamp,
    /// The validator's settings: the future skew, and the PII policy (under `mask`
    /// and `reject`, string values are generated free of PII so that the event is
    /// accepted unchanged).
    pub validation: ValidationConfig,
    /// The records' shape: fixed properties and how many arbitrary ones.
    pub record: RecordConfig,
}

impl Default for EventConfig {
    /// Any type and customer, timestamps from 2020-01-01 to 24 h after a `now` of
    /// 2025-01-01T00:00:00Z, the default validation settings, any record.
    fn default() -> Self {
        let now = millis(DEFAULT_NOW_MS);
        Self {
            event_types: Vec::new(),
            customers: Vec::new(),
            from: millis(DEFAULT_FROM_MS),
            to: millis(MAX_MS),
            now,
            validation: ValidationConfig::default(),
            record: RecordConfig::default(),
        }
    }
}

impl EventConfig {
    /// The last instant the validator accepts: `now` + the skew (when the check is
    /// on), and never after `to`.
    pub fn latest(&self) -> Timestamp {
        let skew = i64::try_from(self.validation.max_future_skew_ms).unwrap_or(i64::MAX);
        let limit = match self.validation.max_future_skew_ms {
            0 => MAX_MS,
            _ => self.now.as_millis().saturating_add(skew).min(MAX_MS),
        };
        millis(self.to.as_millis().min(limit))
    }

    /// Whether string values must be free of personal data.
    pub(crate) fn pii_free(&self) -> bool {
        matches!(
            self.validation.pii_policy,
            PiiPolicy::Mask | PiiPolicy::Reject
        )
    }
}

fn millis(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms.clamp(0, MAX_MS)).expect("clamped to the valid range")
}

/// A valid event: its wire JSON and the [`Event`] that `parse_event` must return
/// for it (under the configuration's `now` and validation settings).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    /// The wire form, its timestamp in one of the accepted forms.
    pub json: Json,
    /// What the validator must make of it.
    pub event: Event,
}

/// Valid events: every field within its limits, the timestamp in any accepted form
/// (RFC 3339 with `Z` or an offset, naive with a space or a `T`, with or without
/// fractional seconds, integer milliseconds), between `config.from` and
/// [`EventConfig::latest`], the latest instant itself included with some weight.
///
/// ```
/// use proptest::prelude::*;
/// use tally_event::parse_event;
/// use tally_testkit::{EventConfig, valid_event};
///
/// let config = EventConfig {
///     event_types: vec!["api_call".into()],
///     customers: vec!["cus_1".into(), "acme".into()],
///     ..EventConfig::default()
/// };
/// proptest!(|(valid in valid_event(&config))| {
///     let parsed = parse_event(&valid.json, &config.validation, config.now).unwrap();
///     prop_assert_eq!(parsed.event, valid.event);
/// });
/// ```
pub fn valid_event(config: &EventConfig) -> BoxedStrategy<ValidEvent> {
    let record = record_with(&RecordConfig {
        pii_free: config.record.pii_free || config.pii_free(),
        ..config.record.clone()
    });
    (
        event_type(&config.event_types),
        customer(&config.customers),
        timestamp(config),
        record,
    )
        .prop_map(|(event_type, customer, (at, at_json), record)| {
            let event = Event {
                event_type,
                customer,
                timestamp: at,
                record,
            };
            ValidEvent {
                json: wire(&event, at_json),
                event,
            }
        })
        .boxed()
}

/// The wire form of `event` with `timestamp` as its timestamp.
pub(crate) fn wire(event: &Event, timestamp: Json) -> Json {
    serde_json::json!({
        "customer_id": event.customer.as_str(),
        "event_type": event.event_type.as_str(),
        "timestamp": timestamp,
        "record": event.record.to_json(),
    })
}

/// One of `names`, or any valid event type when it is empty.
pub fn event_type(names: &[String]) -> BoxedStrategy<EventType> {
    let any = regex(&format!("[A-Za-z0-9_.:-]{{1,{MAX_EVENT_TYPE_CHARS}}}"));
    let names: Vec<String> = names.to_vec();
    let texts = if names.is_empty() {
        prop_oneof![4 => regex("[a-z_]{1,20}"), 1 => any].boxed()
    } else {
        prop::sample::select(names).boxed()
    };
    texts
        .prop_filter_map("a valid event type", |text| EventType::parse(&text).ok())
        .boxed()
}

/// One of `names`, or any valid customer reference when it is empty.
pub fn customer(names: &[String]) -> BoxedStrategy<CustomerRef> {
    let any = regex(&format!("\\PC{{1,{MAX_ID_CHARS}}}"));
    let names: Vec<String> = names.to_vec();
    let texts = if names.is_empty() {
        prop_oneof![4 => regex("cus_[A-Za-z0-9]{1,14}"), 1 => any].boxed()
    } else {
        prop::sample::select(names).boxed()
    };
    texts
        .prop_filter_map("a valid customer", |text| CustomerRef::parse(&text).ok())
        .boxed()
}

/// A timestamp in the configuration's range and its JSON in one accepted form.
///
/// ```
/// use proptest::prelude::*;
/// use tally_event::Timestamp;
/// use tally_testkit::{EventConfig, timestamp};
///
/// let config = EventConfig::default();
/// proptest!(|((at, json) in timestamp(&config))| {
///     let parsed = match json.as_i64() {
///         Some(ms) => Timestamp::from_epoch_millis_input(ms),
///         None => Timestamp::parse(json.as_str().unwrap()),
///     };
///     prop_assert_eq!(parsed, Ok(at));
///     prop_assert!(at <= config.latest());
/// });
/// ```
pub fn timestamp(config: &EventConfig) -> BoxedStrategy<(Timestamp, Json)> {
    let latest = config.latest().as_millis();
    let from = config.from.as_millis().min(latest);
    let instant = prop_oneof![8 => from..=latest, 1 => Just(latest), 1 => Just(from)];
    (
        instant,
        timestamp_form(),
        -(24 * 60 - 1)..=(24 * 60 - 1_i32),
        0_u16..1000,
    )
        .prop_map(move |(ms, form, offset_minutes, sub_ms)| {
            // The seconds-only forms take the instant to a whole second in range.
            let ms = match form {
                Form::RfcZSeconds | Form::NaiveT => whole_second(ms, from, latest).unwrap_or(ms),
                _ => ms,
            };
            let json = form.render(ms, offset_minutes, sub_ms);
            (millis(ms), json)
        })
        .boxed()
}

/// A whole second in `from..=latest` next to `ms`, if the range holds one.
fn whole_second(ms: i64, from: i64, latest: i64) -> Option<i64> {
    let down = ms - ms.rem_euclid(1000);
    let up = down + 1000;
    [down, up]
        .into_iter()
        .find(|second| (from..=latest).contains(second))
}

/// The accepted written forms of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `2024-12-20T16:04:11.123Z`
    RfcZ,
    /// `2024-12-20T16:04:11Z` (whole seconds only)
    RfcZSeconds,
    /// `2024-12-20T18:04:11.123+02:00`
    RfcOffset,
    /// `2024-12-20T16:04:11.123456Z`: digits past the millisecond are dropped
    RfcMicros,
    /// `2024-12-20 16:04:11.123` (UTC)
    NaiveSpace,
    /// `2024-12-20T16:04:11` (UTC, whole seconds only)
    NaiveT,
    /// `1734710651123`
    EpochMillis,
}

fn timestamp_form() -> impl Strategy<Value = Form> {
    prop::sample::select(vec![
        Form::RfcZ,
        Form::RfcZSeconds,
        Form::RfcOffset,
        Form::RfcMicros,
        Form::NaiveSpace,
        Form::NaiveT,
        Form::EpochMillis,
    ])
}

impl Form {
    /// The JSON of instant `ms` in this form, or in the plain RFC 3339 form when
    /// this one cannot say it exactly (seconds-only forms of an instant with
    /// milliseconds, epoch numbers below the seconds hint, offsets at the ends of
    /// the year range).
    fn render(self, ms: i64, offset_minutes: i32, sub_ms: u16) -> Json {
        let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        let whole_second = ms % 1000 == 0;
        let text = match self {
            Form::RfcZSeconds if whole_second => at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Form::NaiveT if whole_second => at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            Form::NaiveSpace => at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            Form::RfcMicros => format!("{}{sub_ms:03}Z", at.format("%Y-%m-%dT%H:%M:%S%.3f")),
            Form::RfcOffset if (DAY_MS..=MAX_MS - DAY_MS).contains(&ms) => {
                let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap_or(Utc.fix());
                at.with_timezone(&offset)
                    .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string()
            }
            Form::EpochMillis if ms >= SECONDS_HINT_BELOW_MS => return Json::from(ms),
            _ => at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        };
        Json::String(text)
    }
}

/// A numeric record value strategy, handy for [`RecordConfig::properties`]: whole
/// numbers in `range`.
///
/// ```
/// use tally_testkit::{RecordConfig, integer_value};
///
/// let config = RecordConfig {
///     properties: vec![("amount".into(), integer_value(0..=10_000))],
///     ..RecordConfig::default()
/// };
/// # let _ = config;
/// ```
pub fn integer_value(range: std::ops::RangeInclusive<i64>) -> BoxedStrategy<Value> {
    range
        .prop_map(|n| Value::Number(rust_decimal::Decimal::from(n)))
        .boxed()
}
