//! Record values and whole records within every limit of docs/events.md.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_event::{
    MAX_ARRAY_ITEMS, MAX_EVENT_BYTES, MAX_ID_CHARS, MAX_KEY_CHARS, MAX_PROPERTIES,
    MAX_STRING_BYTES, Record, RecordId, Scalar, Value,
};

/// Bytes of an event's JSON left for its record: the 64 KiB limit minus the most the
/// other three fields can take (a 255-character customer id of 4-byte characters,
/// a 100-character event type, a timestamp and the field names).
pub const RECORD_BYTES_BUDGET: usize = MAX_EVENT_BYTES - 2048;

/// Largest mantissa a `Decimal` holds: 2^96 − 1.
const MAX_MANTISSA: i128 = (1 << 96) - 1;

/// Any `Decimal`: every scale (0..=28) and magnitude, with small integers and
/// amounts in cents weighted up so that they appear often.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let value = tally_testkit::decimal().new_tree(&mut runner).unwrap().current();
/// assert!(value.scale() <= 28);
/// ```
pub fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        2 => (-MAX_MANTISSA..=MAX_MANTISSA, 0_u32..=28).prop_map(|(mantissa, scale)| {
            Decimal::try_from_i128_with_scale(mantissa, scale).unwrap_or_default()
        }),
        1 => (-100_000_i64..=100_000).prop_map(Decimal::from),
        1 => (-10_000_000_i64..=10_000_000).prop_map(|cents| Decimal::new(cents, 2)),
    ]
}

/// A string value: mostly short, sometimes up to the 8 KiB limit (exactly at it
/// with some weight). With `pii_free`, only letters, spaces and punctuation that no
/// PII detector flags (no digits, no `@`), so the `mask` and `reject` policies leave
/// the value alone.
pub fn string_value(pii_free: bool) -> BoxedStrategy<String> {
    let short = if pii_free {
        "[A-Za-zéß _.,;:!?'-]{0,24}".boxed()
    } else {
        "\\PC{0,24}".boxed()
    };
    let fill = if pii_free {
        "[A-Za-zé ]".boxed()
    } else {
        "\\PC".boxed()
    };
    prop_oneof![
        12 => short,
        1 => (fill.clone(), 0..=MAX_STRING_BYTES).prop_map(|(c, bytes)| repeat_to(&c, bytes)),
        1 => fill.prop_map(|c| repeat_to(&c, MAX_STRING_BYTES)),
    ]
    .boxed()
}

/// Strings matching `pattern` (a pattern of this crate, known to be valid).
pub(crate) fn regex(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern)
        .expect("a valid pattern")
        .boxed()
}

/// `unit` repeated as often as fits in `bytes` bytes of UTF-8.
fn repeat_to(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes / unit.len().max(1))
}

/// An array item: a string, a number or a boolean.
pub fn scalar(pii_free: bool) -> BoxedStrategy<Scalar> {
    let short = if pii_free {
        "[A-Za-z _-]{0,12}".boxed()
    } else {
        "\\PC{0,12}".boxed()
    };
    prop_oneof![
        any::<bool>().prop_map(Scalar::Bool),
        decimal().prop_map(Scalar::Number),
        short.prop_map(Scalar::String),
    ]
    .boxed()
}

/// A record property value: null, a boolean, a number, a string (up to 8 KiB) or an
/// array of scalars (up to 256 items, usually a few). Never an object.
pub fn value(pii_free: bool) -> BoxedStrategy<Value> {
    let items = scalar(pii_free);
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => decimal().prop_map(Value::Number),
        3 => string_value(pii_free).prop_map(Value::String),
        1 => prop::collection::vec(items.clone(), 0..=8).prop_map(Value::Array),
        1 => prop::collection::vec(items, 0..=MAX_ARRAY_ITEMS).prop_map(Value::Array),
    ]
    .boxed()
}

/// A record key other than `id`: 1..=100 characters, mostly identifier-like,
/// sometimes any printable text, sometimes exactly 100 characters.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => regex("[a-z_][a-z0-9_]{0,15}"),
        2 => regex(&format!("\\PC{{1,{MAX_KEY_CHARS}}}")),
        1 => regex(&format!("[a-z]{{{MAX_KEY_CHARS}}}")),
    ]
    .prop_filter("not id", |key| key != "id")
}

/// A record id and the `id` property as sent: an integer (any that a `Decimal`
/// holds exactly, up to 29 digits) or a string of 1..=255 characters.
pub fn record_id() -> impl Strategy<Value = (RecordId, Value)> {
    prop_oneof![
        3 => any::<i64>().prop_map(i128::from).prop_map(integer_id),
        1 => (-MAX_MANTISSA..=MAX_MANTISSA).prop_map(integer_id),
        3 => regex("[a-z0-9_-]{1,32}").prop_map(string_id),
        1 => regex(&format!("\\PC{{1,{MAX_ID_CHARS}}}")).prop_map(string_id),
    ]
}

fn integer_id(n: i128) -> (RecordId, Value) {
    let value = Decimal::try_from_i128_with_scale(n, 0).unwrap_or_default();
    (
        RecordId::from_integer(value.mantissa()),
        Value::Number(value),
    )
}

fn string_id(text: String) -> (RecordId, Value) {
    // The pattern gives 1..=255 characters without NUL, which parse accepts.
    let id = RecordId::parse(&text).unwrap_or_else(|_| RecordId::from_integer(0));
    (id, Value::String(text))
}

/// What [`record_with`] generates.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Properties every record has, each with the strategy of its values (e.g. an
    /// `amount` that is always a number). At most 24: `id` is the 25th.
    pub properties: Vec<(String, BoxedStrategy<Value>)>,
    /// Most arbitrary properties added beside `id` and `properties`; capped so the
    /// record never has more than 25 properties.
    pub max_extra_properties: usize,
    /// String values without anything the PII scan flags (see [`string_value`]).
    pub pii_free: bool,
    /// Most bytes of JSON the record may take; arbitrary properties are left out,
    /// largest first, to stay under it. The default, [`RECORD_BYTES_BUDGET`], keeps
    /// any event under the 64 KiB limit.
    pub max_bytes: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            properties: Vec::new(),
            max_extra_properties: MAX_PROPERTIES - 1,
            pii_free: false,
            max_bytes: RECORD_BYTES_BUDGET,
        }
    }
}

/// Any valid record: an id and 0..=24 other properties of every kind, within
/// every limit, and small enough that its event stays under 64 KiB.
///
/// ```
/// use proptest::prelude::*;
///
/// proptest!(|(record in tally_testkit::record())| {
///     prop_assert!((1..=25).contains(&record.len()));
///     prop_assert!(record.get("id").is_some());
/// });
/// ```
pub fn record() -> BoxedStrategy<Record> {
    record_with(&RecordConfig::default())
}

/// Records shaped by `config`: its fixed properties, then arbitrary ones.
///
/// ```
/// use proptest::prelude::*;
/// use tally_testkit::{RecordConfig, integer_value, record_with};
///
/// let config = RecordConfig {
///     properties: vec![("seats".into(), integer_value(1..=50))],
///     max_extra_properties: 3,
///     ..RecordConfig::default()
/// };
/// proptest!(|(record in record_with(&config))| {
///     prop_assert!(record.get("seats").and_then(|v| v.as_decimal()).is_some());
///     prop_assert!(record.len() <= 5);
/// });
/// ```
///
/// When the arbitrary properties would make the record's JSON larger than
/// [`RecordConfig::max_bytes`], the largest of them are left out; the fixed
/// properties are always kept.
pub fn record_with(config: &RecordConfig) -> BoxedStrategy<Record> {
    let fixed: Vec<(String, BoxedStrategy<Value>)> = config
        .properties
        .iter()
        .take(MAX_PROPERTIES - 1)
        .cloned()
        .collect();
    let names: Vec<String> = fixed.iter().map(|(name, _)| name.clone()).collect();
    let room = (MAX_PROPERTIES - 1 - fixed.len()).min(config.max_extra_properties);
    let fixed_values: Vec<BoxedStrategy<Value>> = fixed.into_iter().map(|(_, s)| s).collect();
    let extra = prop::collection::btree_map(key(), value(config.pii_free), 0..=room);
    let budget = config.max_bytes.min(RECORD_BYTES_BUDGET);
    (record_id(), fixed_values, extra)
        .prop_map(move |((id, id_value), fixed, extra)| {
            let extra: BTreeMap<String, Value> = extra
                .into_iter()
                .filter(|(key, _)| !names.contains(key))
                .collect();
            let mut kept: BTreeMap<String, Value> = names.iter().cloned().zip(fixed).collect();
            kept.insert("id".to_owned(), id_value);
            let reserved: usize = kept.iter().map(|(k, v)| json_size(k, v)).sum();
            let mut properties = fit_budget(extra, budget.saturating_sub(reserved));
            properties.extend(kept);
            Record::from_trusted_parts(id, properties)
        })
        .boxed()
}

/// An upper bound of the bytes `"key":value,` takes in a record's JSON.
fn json_size(key: &str, value: &Value) -> usize {
    let key = serde_json::to_vec(key).map_or(0, |b| b.len());
    key + 2 + serde_json::to_vec(&value.to_json()).map_or(0, |b| b.len())
}

/// Leaves out the largest properties until the rest fit in `budget` bytes.
fn fit_budget(mut properties: BTreeMap<String, Value>, budget: usize) -> BTreeMap<String, Value> {
    let mut total: usize = properties.iter().map(|(k, v)| json_size(k, v)).sum();
    while total > budget {
        let Some((largest, bytes)) = properties
            .iter()
            .map(|(k, v)| (k.clone(), json_size(k, v)))
            .max_by_key(|(_, bytes)| *bytes)
        else {
            break;
        };
        properties.remove(&largest);
        total -= bytes;
    }
    properties
}
