//! Deterministic usage events: several event types, 25-property records, many
//! customers, realistic ids.
//!
//! Event `n` depends only on the seed and `n`, so any part of a data set can be
//! rebuilt on its own and the raw insert and the HTTP run see the same rows.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// The event types the generator writes, with their share of a mixed set.
pub const EVENT_TYPES: [EventKind; 3] = [
    EventKind::ApiCall,
    EventKind::Storage,
    EventKind::Transaction,
];

/// One of the generated event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ApiCall,
    Storage,
    Transaction,
}

impl EventKind {
    pub fn event_type(self) -> &'static str {
        match self {
            EventKind::ApiCall => "api_call",
            EventKind::Storage => "storage",
            EventKind::Transaction => "transaction",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            EventKind::ApiCall => "req",
            EventKind::Storage => "sto",
            EventKind::Transaction => "txn",
        }
    }
}

/// Which event types a data set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// 60 % `api_call`, 25 % `storage`, 15 % `transaction`.
    Mixed,
    /// Every event of one type.
    Only(EventKind),
}

/// A data set: `total` events of `customers` customers over one month.
#[derive(Debug, Clone)]
pub struct DataSet {
    pub seed: u64,
    pub total: u64,
    pub customers: u64,
    pub mix: Mix,
    /// First millisecond of the month the events fall in.
    pub month_start_ms: i64,
    /// Length of that month in milliseconds.
    pub month_ms: i64,
}

/// One generated event: its JSON and what the raw insert needs beside it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub customer: u64,
    pub json: Value,
}

/// The month every data set falls in: March 2025 (UTC).
pub fn bench_month() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single();
    let end = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).single();
    match (start, end) {
        (Some(start), Some(end)) => (start, end),
        _ => unreachable!("March 2025 is a valid UTC month"),
    }
}

/// A date as the API takes it.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A bijection of u64 that looks random: distinct inputs give distinct ids.
fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `x` in base62, 11 characters (enough for every u64).
fn base62(mut x: u64) -> String {
    let mut out = [b'0'; 11];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(x % 62) as usize];
        x /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The external id events name customer `c` by.
pub fn customer_external_id(seed: u64, c: u64) -> String {
    format!("org_{}", base62(scramble(c ^ seed.rotate_left(17))))
}

/// The Tally id the raw insert stores for customer `c` (the server would have
/// resolved the external id to such an id).
pub fn customer_tally_id(seed: u64, c: u64) -> String {
    format!(
        "cus_{}",
        base62(scramble(c ^ seed.rotate_left(29) ^ 0x5555))
    )
}

/// A fresh event id, as the server would draw one.
pub fn event_id(seed: u64, n: u64) -> String {
    format!(
        "evt_{}{}",
        base62(scramble(n ^ seed)),
        base62(scramble(n.wrapping_add(seed)))
    )
}

const REGIONS: [&str; 6] = [
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "sa-east-1",
];
const PLANS: [&str; 4] = ["free", "starter", "pro", "enterprise"];
const SDKS: [&str; 4] = ["node", "python", "go", "java"];
const ENDPOINTS: [&str; 8] = [
    "/v1/orders",
    "/v1/orders/{id}",
    "/v1/customers",
    "/v1/invoices",
    "/v1/search",
    "/v1/payments",
    "/v1/reports/daily",
    "/v1/webhooks",
];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const STORAGE_CLASSES: [&str; 3] = ["standard", "infrequent", "archive"];
const OPERATIONS: [&str; 4] = ["put", "get", "list", "delete"];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];
const PAYMENT_METHODS: [&str; 4] = ["card", "sepa_debit", "bank_transfer", "wallet"];
const CARD_BRANDS: [&str; 4] = ["visa", "mastercard", "amex", "none"];
const COUNTRIES: [&str; 6] = ["FR", "DE", "US", "GB", "ES", "BR"];
const STATUSES: [&str; 3] = ["succeeded", "pending", "failed"];

fn pick<'a>(rng: &mut StdRng, values: &[&'a str]) -> &'a str {
    values[rng.random_range(0..values.len())]
}

fn hex(rng: &mut StdRng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(HEX[rng.random_range(0..16)]))
        .collect()
}

/// A decimal with `places` digits after the point, as an exact JSON number.
fn decimal(rng: &mut StdRng, max_units: u64, places: u32) -> Value {
    let scale = 10u64.pow(places);
    let raw = rng.random_range(0..max_units * scale);
    let text = format!(
        "{}.{:0width$}",
        raw / scale,
        raw % scale,
        width = places as usize
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

impl DataSet {
    /// The kind of event `n`.
    pub fn kind(&self, n: u64) -> EventKind {
        match self.mix {
            Mix::Only(kind) => kind,
            Mix::Mixed => match scramble(n ^ self.seed) % 20 {
                0..12 => EventKind::ApiCall,
                12..17 => EventKind::Storage,
                _ => EventKind::Transaction,
            },
        }
    }

    /// The customer of event `n`: customers take turns, so each has about
    /// `total / customers` events.
    pub fn customer(&self, n: u64) -> u64 {
        n % self.customers.max(1)
    }

    /// How many events of `kind` the set holds.
    pub fn count_of(&self, kind: EventKind) -> u64 {
        (0..self.total).filter(|&n| self.kind(n) == kind).count() as u64
    }

    /// Event `n` of the set.
    pub fn event(&self, n: u64) -> Generated {
        let mut rng = StdRng::seed_from_u64(scramble(self.seed ^ scramble(n)));
        let kind = self.kind(n);
        let customer = self.customer(n);
        // Spread over the month in index order, jittered within the slot.
        let slot = self.month_ms / self.total.max(1) as i64;
        let ts = self.month_start_ms
            + (i128::from(n) * i128::from(self.month_ms) / i128::from(self.total.max(1))) as i64
            + rng.random_range(0..slot.max(1));
        let timestamp = Utc
            .timestamp_millis_opt(ts)
            .single()
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default();
        let mut record = Map::new();
        record.insert(
            "id".into(),
            json!(format!(
                "{}_{}",
                kind.id_prefix(),
                base62(scramble(n ^ 0xA5A5))
            )),
        );
        // Twelve properties every type shares.
        record.insert("region".into(), json!(pick(&mut rng, &REGIONS)));
        record.insert(
            "environment".into(),
            json!(if rng.random_bool(0.9) {
                "production"
            } else {
                "staging"
            }),
        );
        record.insert("plan".into(), json!(pick(&mut rng, &PLANS)));
        record.insert(
            "team_id".into(),
            json!(format!("team_{}", rng.random_range(1..500))),
        );
        record.insert(
            "project_id".into(),
            json!(format!("prj_{}", hex(&mut rng, 10))),
        );
        record.insert(
            "user_id".into(),
            json!(format!("usr_{}", rng.random_range(10_000..99_999))),
        );
        record.insert("sdk".into(), json!(pick(&mut rng, &SDKS)));
        record.insert(
            "sdk_version".into(),
            json!(format!(
                "{}.{}.{}",
                rng.random_range(1..4),
                rng.random_range(0..20),
                rng.random_range(0..10)
            )),
        );
        record.insert("is_internal".into(), json!(rng.random_bool(0.05)));
        record.insert("is_verified".into(), json!(rng.random_bool(0.8)));
        record.insert("occurred_at".into(), json!(timestamp.clone()));
        record.insert("trace_id".into(), json!(hex(&mut rng, 32)));
        // Twelve of its own.
        match kind {
            EventKind::ApiCall => {
                record.insert("endpoint".into(), json!(pick(&mut rng, &ENDPOINTS)));
                record.insert("method".into(), json!(pick(&mut rng, &METHODS)));
                record.insert(
                    "http_status".into(),
                    json!(if rng.random_bool(0.97) { 200 } else { 500 }),
                );
                record.insert("duration_ms".into(), json!(rng.random_range(1..2_000)));
                record.insert("request_bytes".into(), json!(rng.random_range(100..50_000)));
                record.insert(
                    "response_bytes".into(),
                    json!(rng.random_range(100..500_000)),
                );
                record.insert("cache_hit".into(), json!(rng.random_bool(0.3)));
                record.insert("retries".into(), json!(rng.random_range(0..3)));
                record.insert("latency_score".into(), decimal(&mut rng, 1, 3));
                record.insert("compute_units".into(), decimal(&mut rng, 50, 4));
                record.insert("api_version".into(), json!("2025-01-15"));
                record.insert("rate_limited".into(), json!(rng.random_bool(0.01)));
            }
            EventKind::Storage => {
                record.insert(
                    "bucket".into(),
                    json!(format!("bucket-{}", rng.random_range(1..50))),
                );
                record.insert(
                    "storage_class".into(),
                    json!(pick(&mut rng, &STORAGE_CLASSES)),
                );
                record.insert("gigabytes".into(), decimal(&mut rng, 200, 6));
                record.insert("objects".into(), json!(rng.random_range(1..100_000)));
                record.insert("operation".into(), json!(pick(&mut rng, &OPERATIONS)));
                record.insert("replicated".into(), json!(rng.random_bool(0.5)));
                record.insert("encrypted".into(), json!(rng.random_bool(0.9)));
                record.insert("requests".into(), json!(rng.random_range(1..10_000)));
                record.insert("egress_gb".into(), decimal(&mut rng, 20, 6));
                record.insert("retention_days".into(), json!(rng.random_range(1..366)));
                record.insert("checksum".into(), json!(hex(&mut rng, 16)));
                record.insert("versioned".into(), json!(rng.random_bool(0.2)));
            }
            EventKind::Transaction => {
                record.insert("amount".into(), decimal(&mut rng, 5_000, 2));
                record.insert("currency".into(), json!(pick(&mut rng, &CURRENCIES)));
                record.insert(
                    "payment_method".into(),
                    json!(pick(&mut rng, &PAYMENT_METHODS)),
                );
                record.insert("card_brand".into(), json!(pick(&mut rng, &CARD_BRANDS)));
                record.insert("country".into(), json!(pick(&mut rng, &COUNTRIES)));
                record.insert("fee_bps".into(), json!(rng.random_range(50..350)));
                record.insert("status".into(), json!(pick(&mut rng, &STATUSES)));
                record.insert("risk_score".into(), decimal(&mut rng, 100, 2));
                record.insert("is_refund".into(), json!(rng.random_bool(0.03)));
                record.insert("installments".into(), json!(rng.random_range(1..4)));
                record.insert(
                    "merchant_category".into(),
                    json!(format!("mcc_{}", rng.random_range(1000..9999))),
                );
                record.insert(
                    "reference".into(),
                    json!(format!("ord_{}", hex(&mut rng, 12))),
                );
            }
        }
        let json = json!({
            "event_type": kind.event_type(),
            "customer_id": customer_external_id(self.seed, customer),
            "timestamp": timestamp,
            "record": Value::Object(record),
        });
        Generated { customer, json }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(total: u64) -> DataSet {
        let (start, end) = bench_month();
        DataSet {
            seed: 7,
            total,
            customers: 10,
            mix: Mix::Mixed,
            month_start_ms: start.timestamp_millis(),
            month_ms: (end - start).num_milliseconds(),
        }
    }

    #[test]
    fn events_have_25_properties_and_are_deterministic() {
        let data = set(1000);
        for n in [0, 1, 17, 999] {
            let a = data.event(n);
            assert_eq!(a.json, data.event(n).json);
            assert_eq!(a.json["record"].as_object().map(Map::len), Some(25));
        }
    }

    #[test]
    fn record_ids_are_unique_and_events_stay_in_the_month() {
        let data = set(5000);
        let (start, end) = bench_month();
        let mut ids = std::collections::HashSet::new();
        for n in 0..data.total {
            let event = data.event(n);
            let id = event.json["record"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(ids.insert((data.kind(n), id)));
            let ts = event.json["timestamp"].as_str().unwrap_or_default();
            let at = DateTime::parse_from_rfc3339(ts).map(|at| at.with_timezone(&Utc));
            assert!(matches!(at, Ok(at) if at >= start && at < end), "{ts}");
        }
        let kinds: std::collections::HashSet<_> = (0..100).map(|n| data.kind(n)).collect();
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn every_generated_event_is_valid() {
        let data = set(300);
        let config = tally_event::ValidationConfig::default();
        let now = tally_event::Timestamp::from_datetime(Utc::now()).expect("now is in range");
        for n in 0..data.total {
            let parsed = tally_event::parse_event(&data.event(n).json, &config, now);
            let parsed = parsed.unwrap_or_else(|errors| panic!("event {n}: {errors:?}"));
            assert!(
                parsed.warnings.is_empty(),
                "event {n}: {:?}",
                parsed.warnings
            );
        }
    }
}
