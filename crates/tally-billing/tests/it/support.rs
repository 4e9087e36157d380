//! The test harness: a billing service over a fresh in-memory store, one account.

use std::sync::Arc;

use serde_json::{Value, json};
use tally_billing::{
    Billing, CustomerInput, FixedClock, Ids, Problem, ProductInput, SubscriptionInput,
};
use tally_event::Timestamp;
use tally_store::{Account, AccountId, MemoryStore, Product, Store, Subscription};

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

pub struct Harness {
    pub billing: Billing,
    pub clock: Arc<FixedClock>,
    pub account: AccountId,
}

impl Harness {
    /// Default settings, the clock at `now`.
    pub async fn new(now: &str) -> Self {
        Harness::with_settings(now, json!({})).await
    }

    pub async fn with_settings(now: &str, settings: Value) -> Self {
        Harness::with_store(now, settings, Arc::new(MemoryStore::new())).await
    }

    /// Over any store (the counting one of `counting.rs`).
    pub async fn with_store(now: &str, settings: Value, store: Arc<dyn Store>) -> Self {
        let clock = Arc::new(FixedClock::new(at(now)));
        let account = AccountId::parse("acc_test").unwrap();
        let record = Account {
            id: account.clone(),
            name: "test".into(),
            settings,
            created_at: at("2020-01-01T00:00:00Z"),
        };
        tally_store::AccountStore::create_account(store.as_ref(), &record)
            .await
            .unwrap();
        let billing = Billing::with_parts(store, clock.clone(), Arc::new(Ids::seeded(42)));
        Harness {
            billing,
            clock,
            account,
        }
    }

    pub fn set_now(&self, now: &str) {
        self.clock.set(at(now));
    }

    /// Ingests `fixtures/billing/seed_events.ndjson` as one batch, received
    /// after its last event (so none is in the future), then restores the clock.
    pub async fn ingest_seed(&self) {
        use tally_billing::Clock;
        let now = self.clock.now();
        self.set_now("2024-06-01T00:00:00Z");
        let text = include_str!("../../../../fixtures/billing/seed_events.ndjson");
        let events: Vec<Value> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let outcome = self
            .billing
            .ingest_batch(&self.account, &events)
            .await
            .unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        self.clock.set(now);
    }

    pub async fn customer(&self, external_id: &str, tax_rate: Option<&str>) -> String {
        let input = CustomerInput {
            external_id: Some(external_id.into()),
            name: Some(external_id.to_uppercase()),
            customer_type: Some("corporate".into()),
            currency: Some("EUR".into()),
            tax_rate: tax_rate.map(|rate| rate.parse().unwrap()),
        };
        let customer = self
            .billing
            .create_customer(&self.account, &input)
            .await
            .unwrap();
        customer.id.to_string()
    }

    /// Creates an aggregator from its JSON definition; returns its id.
    pub async fn aggregator(&self, definition: Value) -> tally_billing::AggregatorEntry {
        let definition = serde_json::from_value(definition).unwrap();
        self.billing
            .create_aggregator(&self.account, &definition)
            .await
            .unwrap()
    }

    pub async fn product(&self, body: Value) -> Product {
        let input: ProductInput = serde_json::from_value(body).unwrap();
        self.billing
            .create_product(&self.account, &input)
            .await
            .unwrap()
    }

    pub async fn subscription(&self, body: Value) -> Subscription {
        let input: SubscriptionInput = serde_json::from_value(body).unwrap();
        self.billing
            .create_subscription(&self.account, &input)
            .await
            .unwrap()
    }
}

/// The problems of an `Invalid` error (panics on anything else).
pub fn problems<T: std::fmt::Debug>(
    result: Result<T, tally_billing::BillingError>,
) -> Vec<Problem> {
    match result {
        Err(tally_billing::BillingError::Invalid(problems)) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// `path code` of each problem, for compact assertions.
pub fn codes(problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|problem| format!("{} {}", problem.path, problem.code))
        .collect()
}
