//! A usage limit on SQLite: a plan grants 10 API calls a month, the program
//! checks before each call whether the customer may make one more, and the
//! thresholds at 80 % and 100 % of the limit are crossed once each (their
//! webhook events are written with the crossing; an endpoint would receive
//! them). Exits with code 1 when an answer is not the expected one.
//!
//! ```sh
//! cargo run -p tally-engine --example usage_limit
//! ```

use std::process::ExitCode;

use tally_engine::Engine;
use tally_engine::billing::entitlements::{EntitlementInput, FeatureInput};
use tally_engine::serde_json::{from_value, json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::sqlite(&dir.path().join("tally.db")).await?;
    let (billing, acc) = (engine.billing(), engine.account());

    let calls = billing
        .create_aggregator(
            acc,
            &from_value(json!({"name": "API calls", "event_type": "api_call",
                               "operation": "count"}))?,
        )
        .await?;
    let feature: FeatureInput = from_value(json!({
        "code": "api_calls", "name": "API calls", "value_type": "number",
        "aggregator_id": calls.id, "threshold_percents": [80, 100]}))?;
    billing.create_feature(acc, &feature).await?;
    let plan = billing
        .create_product(
            acc,
            &from_value(json!({"name": "Starter", "type": "fee", "currency": "EUR",
                "price_groups": [{"name": "fee", "price": {"type": "flat", "amount": "900"}}]}))?,
        )
        .await?;
    let limit: EntitlementInput = from_value(json!({"value": 10}))?;
    billing
        .put_product_entitlement(acc, plan.id.as_str(), "api_calls", &limit)
        .await?;
    billing
        .create_customer(
            acc,
            &from_value(json!({"external_id": "acme", "currency": "EUR"}))?,
        )
        .await?;
    // Monthly since 2020: the period containing now is this month.
    billing
        .create_subscription(
            acc,
            &from_value(json!({"customer_id": "acme", "product_ids": [plan.id],
                "starts_at": "2020-01-01T00:00:00Z",
                "billing_interval": {"period": "months", "count": 1}}))?,
        )
        .await?;

    // Twelve attempts: the first ten are allowed, then the limit holds.
    let mut mismatches = 0;
    for n in 0..12 {
        let check = billing
            .check_feature(acc, "acme", "api_calls", None)
            .await?;
        let expected = n < 10;
        println!(
            "call {:>2}: allowed {:<5} usage {:>2} remaining {:?}",
            n + 1,
            check.allowed,
            check.usage.unwrap_or_default(),
            check.remaining
        );
        if check.allowed != expected {
            mismatches += 1;
        }
        if check.allowed {
            let event = json!({"event_type": "api_call", "customer_id": "acme",
                "timestamp": billing.now().as_millis(), "record": {"id": format!("call-{n}")}});
            billing.ingest_event(acc, &event).await?;
        }
    }

    // The thresholds: crossed once each, whatever the number of checks and
    // writes.
    billing.settle_thresholds().await?;
    let customer = billing.find_customer(acc, "acme").await?;
    let states = billing
        .store()
        .threshold_states(acc, &customer.id, billing.now())
        .await?;
    for state in &states {
        println!(
            "threshold {}: crossed {} at usage {}",
            state.key, state.crossed, state.usage
        );
    }
    let crossed = states
        .iter()
        .filter(|s| s.crossed && s.version == 1)
        .count();
    engine.shutdown().await;
    if mismatches > 0 || crossed != 2 {
        eprintln!(
            "{mismatches} checks were not the expected answer; {crossed} of 2 thresholds crossed once"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("every check is the expected answer");
    Ok(ExitCode::SUCCESS)
}
