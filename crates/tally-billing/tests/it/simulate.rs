//! Pricing one event: hand-checked marginal amounts, tax, filters, and
//! ingest-and-price.

use serde_json::{Value, json};
use tally_billing::{BillingError, Calculation, EventFilter, SimulateOptions};
use tally_event::UpsertOutcome;

use crate::support::{Harness, codes, problems};

const NOW: &str = "2024-12-21T00:00:00Z";

fn api_call(id: &str, verified: bool) -> Value {
    json!({"event_type": "api_call", "customer_id": "acme-42", "timestamp": "2024-12-20T16:04:11Z",
           "record": {"id": id, "durationInMs": 32, "isVerified": verified}})
}

fn with_tax() -> SimulateOptions {
    SimulateOptions {
        include_tax: true,
        ..SimulateOptions::default()
    }
}

/// (group name, excluding tax, tax, total, currency) of each line.
fn amounts(calculation: &Calculation) -> Vec<(String, i64, i64, i64, String)> {
    calculation
        .result
        .iter()
        .map(|line| {
            (
                line.price_group.name.clone(),
                line.amount_excluding_tax,
                line.tax_amount,
                line.total_amount,
                line.currency.clone(),
            )
        })
        .collect()
}

/// Simulates `event` in the harness's account; the case must succeed.
async fn simulate(h: &Harness, event: &Value, options: &SimulateOptions) -> Calculation {
    h.billing
        .simulate_prices(&h.account, event, options)
        .await
        .unwrap()
}

/// acme-42 (20 % tax) subscribed monthly since Dec 1 to one usage product on a
/// count of verified api calls, priced by `price`.
async fn catalog(price: Value) -> (Harness, String, String) {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", Some("20")).await;
    let calls = h
        .aggregator(json!({"name": "Verified calls", "event_type": "api_call", "operation": "count",
            "where": {"conditional": "and", "fields": [{"property": "isVerified", "operator": "equals", "value": true}]}}))
        .await;
    let product = h
        .product(json!({"name": "API calls", "type": "usage", "aggregator_id": calls.id, "currency": "EUR",
            "price_groups": [{"name": "calls", "price": price}]}))
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-12-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
        .await;
    (h, product.id.to_string(), subscription.id.to_string())
}

#[tokio::test]
async fn the_seed_case_with_and_without_tax() {
    let (h, product, subscription) =
        catalog(json!({"type": "per_unit", "unit_amount": "10000"})).await;
    let taxed = simulate(&h, &api_call("D32NAA8", true), &with_tax()).await;
    assert!(taxed.id.as_str().starts_with("cal_"));
    assert_eq!(
        amounts(&taxed),
        [("calls".into(), 10000, 2000, 12000, "EUR".into())]
    );
    let line = &taxed.result[0];
    assert_eq!(
        (line.product_id.as_str(), line.subscription_id.as_str()),
        (product.as_str(), subscription.as_str())
    );
    assert!(line.price_group.id.as_str().starts_with("grp_"));

    let untaxed = simulate(&h, &api_call("D32NAA8", true), &SimulateOptions::default()).await;
    assert_eq!(
        amounts(&untaxed),
        [("calls".into(), 10000, 0, 10000, "EUR".into())]
    );
    // Nothing was stored.
    let stored = h
        .billing
        .list_events(&h.account, &EventFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.total, 0);
}

#[tokio::test]
async fn graduated_marginals_on_top_of_the_period_so_far() {
    let tiers = json!({"type": "graduated", "tiers": [
        {"up_to": "2", "unit_amount": "0"}, {"up_to": null, "unit_amount": "150.5"}]});
    let (h, _, _) = catalog(tiers).await;
    let first = simulate(&h, &api_call("A", true), &SimulateOptions::default()).await;
    assert_eq!(amounts(&first)[0].1, 0, "the first two calls are free");
    for id in ["A", "B"] {
        h.billing
            .ingest_event(&h.account, &api_call(id, true))
            .await
            .unwrap();
    }
    // Third call: subtotal(3) − subtotal(2) = round(150.5) − 0 = 151.
    let third = simulate(&h, &api_call("C", true), &SimulateOptions::default()).await;
    assert_eq!(amounts(&third)[0].1, 151);
    h.billing
        .ingest_event(&h.account, &api_call("C", true))
        .await
        .unwrap();
    // Fourth: subtotal(4) − subtotal(3) = 301 − 151 = 150.
    let fourth = simulate(&h, &api_call("D", true), &with_tax()).await;
    assert_eq!(
        amounts(&fourth),
        [("calls".into(), 150, 30, 180, "EUR".into())]
    );
    // Re-sending a stored call changes nothing: 0, not a fourth call.
    let resent = simulate(&h, &api_call("C", true), &SimulateOptions::default()).await;
    assert_eq!(amounts(&resent)[0].1, 0);
    // An update that stops a call from counting gives back its price.
    let unverified = simulate(&h, &api_call("C", false), &SimulateOptions::default()).await;
    assert_eq!(amounts(&unverified)[0].1, -151);
}

#[tokio::test]
async fn events_the_aggregator_does_not_select_price_nothing() {
    let (h, _, _) = catalog(json!({"type": "per_unit", "unit_amount": "10000"})).await;
    let unverified = simulate(&h, &api_call("A", false), &with_tax()).await;
    assert!(unverified.result.is_empty());
    let mut before_start = api_call("A", true);
    before_start["timestamp"] = json!("2024-11-30T23:59:59Z");
    let early = simulate(&h, &before_start, &with_tax()).await;
    assert!(early.result.is_empty());
    let mut other_type = api_call("A", true);
    other_type["event_type"] = json!("storage");
    let other = simulate(&h, &other_type, &with_tax()).await;
    assert!(other.result.is_empty());
}

#[tokio::test]
async fn percentage_fees_and_group_filters() {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", None).await;
    let transactions = h
        .aggregator(json!({"name": "Transactions", "event_type": "new_transaction", "operation": "sum",
            "property": "amount", "filters": [{"name": "eur", "where": {"conditional": "and", "fields": [
                {"property": "currency", "operator": "equals", "value": "EUR"}]}}]}))
        .await;
    let eur = transactions.definition.filters[0].id.clone();
    h.product(json!({"name": "Payments", "type": "usage", "aggregator_id": transactions.id, "currency": "EUR",
        "price_groups": [
            {"name": "card", "price": {"type": "percentage", "rate": "2.9", "property": "amount", "fixed_amount": "30"}},
            {"name": "eur volume", "aggregator_filter_id": eur, "price": {"type": "per_unit", "unit_amount": "0.01"}}]}))
        .await;
    let product = h
        .billing
        .list_products(&h.account, Default::default())
        .await
        .unwrap()
        .items[0]
        .id
        .clone();
    h.subscription(
        json!({"customer_id": "acme-42", "product_ids": [product], "tax_rate": "5.5",
        "starts_at": "2024-12-01T00:00:00Z"}),
    )
    .await;
    let event = json!({"customer_id": "acme-42", "timestamp": "2024-12-20T10:00:00Z",
        "event_type": "new_transaction", "record": {"id": 485, "amount": 2500}});
    // 2.9 % × 2500 + 30 = 102.5 → 103 (half away from zero); tax 5.5 % → 5.665 → 6.
    let result = simulate(&h, &event, &with_tax()).await;
    assert_eq!(
        amounts(&result),
        [("card".into(), 103, 6, 109, "EUR".into())]
    );
    let mut in_eur = event.clone();
    in_eur["record"]["currency"] = json!("EUR");
    let result = simulate(&h, &in_eur, &SimulateOptions::default()).await;
    // The filtered group: 2500 × 0.01 = 25.
    assert_eq!(
        amounts(&result),
        [
            ("card".into(), 103, 0, 103, "EUR".into()),
            ("eur volume".into(), 25, 0, 25, "EUR".into())
        ]
    );
}

#[tokio::test]
async fn narrowing_options_and_errors() {
    let (h, product, subscription) =
        catalog(json!({"type": "per_unit", "unit_amount": "10000"})).await;
    let narrowed = SimulateOptions {
        product_id: Some(product.clone()),
        subscription_id: Some(subscription.clone()),
        include_tax: false,
    };
    let result = simulate(&h, &api_call("A", true), &narrowed).await;
    assert_eq!(result.result.len(), 1);
    let other_product = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
        .await;
    let elsewhere = SimulateOptions {
        product_id: Some(other_product.id.to_string()),
        ..SimulateOptions::default()
    };
    let result = simulate(&h, &api_call("A", true), &elsewhere).await;
    assert!(result.result.is_empty());

    let unknown = SimulateOptions {
        product_id: Some("itm_unknown".into()),
        ..SimulateOptions::default()
    };
    let result = h
        .billing
        .simulate_prices(&h.account, &api_call("A", true), &unknown)
        .await;
    assert!(
        matches!(result, Err(BillingError::NotFound { what: "product" })),
        "{result:?}"
    );

    let mut stranger = api_call("A", true);
    stranger["customer_id"] = json!("stranger");
    let result = h
        .billing
        .simulate_prices(&h.account, &stranger, &with_tax())
        .await;
    assert_eq!(
        codes(&problems(result)),
        ["/customer_id customer_not_found"]
    );
    // Simulation never creates the customer.
    assert!(
        h.billing
            .get_customer(&h.account, "stranger")
            .await
            .is_err()
    );

    let result = h
        .billing
        .simulate_prices(&h.account, &json!({"record": {}}), &with_tax())
        .await;
    assert_eq!(
        codes(&problems(result)),
        [
            "/customer_id required",
            "/event_type required",
            "/timestamp required",
            "/record/id required"
        ]
    );
}

#[tokio::test]
async fn ingest_and_price_stores_then_prices_the_event() {
    let tiers = json!({"type": "graduated", "tiers": [
        {"up_to": "1", "unit_amount": "0"}, {"up_to": null, "unit_amount": "100"}]});
    let (h, _, _) = catalog(tiers).await;
    let first = h
        .billing
        .ingest_and_price(&h.account, &api_call("A", true), &with_tax())
        .await
        .unwrap();
    assert_eq!(first.event.outcome, UpsertOutcome::Created);
    assert_eq!(amounts(&first.calculation)[0].1, 0);
    let second = h
        .billing
        .ingest_and_price(&h.account, &api_call("B", true), &with_tax())
        .await
        .unwrap();
    assert_eq!(
        amounts(&second.calculation),
        [("calls".into(), 100, 20, 120, "EUR".into())]
    );
    // The same event again changes nothing: it still counts, for 0.
    let again = h
        .billing
        .ingest_and_price(&h.account, &api_call("B", true), &with_tax())
        .await
        .unwrap();
    assert_eq!(
        (again.event.outcome, again.event.id.clone()),
        (UpsertOutcome::Unchanged, second.event.id.clone())
    );
    assert_eq!(
        amounts(&again.calculation),
        [("calls".into(), 0, 0, 0, "EUR".into())]
    );
    // A new version of it: an update of the second call, which costs no more.
    let mut changed = api_call("B", true);
    changed["record"]["note"] = json!("retried");
    let updated = h
        .billing
        .ingest_and_price(&h.account, &changed, &with_tax())
        .await
        .unwrap();
    assert_eq!(
        (updated.event.outcome, updated.event.id.clone()),
        (UpsertOutcome::Updated, second.event.id.clone())
    );
    assert_eq!(amounts(&updated.calculation)[0].1, 0);
    // An older version is kept as history and changes no amount.
    let mut older = api_call("B", true);
    older["timestamp"] = json!("2024-12-20T10:00:00Z");
    let stale = h
        .billing
        .ingest_and_price(&h.account, &older, &with_tax())
        .await
        .unwrap();
    assert_eq!(stale.event.outcome, UpsertOutcome::Stale);
    assert_eq!(
        amounts(&stale.calculation),
        [("calls".into(), 0, 0, 0, "EUR".into())]
    );
    let stored = h
        .billing
        .list_events(&h.account, &EventFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.total, 2);

    // An unknown customer is created (default settings), and has nothing to price.
    let mut newcomer = api_call("Z", true);
    newcomer["customer_id"] = json!("newcomer");
    let priced = h
        .billing
        .ingest_and_price(&h.account, &newcomer, &with_tax())
        .await
        .unwrap();
    assert!(priced.event.customer_created);
    assert!(priced.calculation.result.is_empty());
}

/// Runs every case of `fixtures/billing/simulate.json`.
#[tokio::test]
async fn fixture_cases() {
    let text = include_str!("../../../../fixtures/billing/simulate.json");
    let fixture: Value = serde_json::from_str(text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let aggregator = &fixture["aggregators"][case["aggregator"].as_str().unwrap()];
        let got = run_case(aggregator, case).await;
        let expected: Option<[i64; 3]> = serde_json::from_value(case["expected"].clone()).unwrap();
        assert_eq!(got, expected, "{name}");
    }
}

async fn run_case(aggregator: &Value, case: &Value) -> Option<[i64; 3]> {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", None).await;
    let aggregator = h.aggregator(aggregator.clone()).await;
    let product = h
        .product(json!({"name": "Usage", "type": "usage", "aggregator_id": aggregator.id, "currency": "EUR",
            "price_groups": [{"name": "group", "price": case["price"]}]}))
        .await;
    h.subscription(
        json!({"customer_id": "acme-42", "product_ids": [product.id],
        "starts_at": "2024-12-01T00:00:00Z", "tax_rate": case["tax_rate"]}),
    )
    .await;
    let event = |record: &Value| {
        json!({"customer_id": "acme-42", "event_type": "api_call",
               "timestamp": "2024-12-10T00:00:00Z", "record": record})
    };
    let prior: Vec<Value> = case["prior"]
        .as_array()
        .unwrap()
        .iter()
        .map(event)
        .collect();
    if !prior.is_empty() {
        let outcome = h.billing.ingest_batch(&h.account, &prior).await.unwrap();
        assert!(outcome.rejected.is_empty());
    }
    let mut simulated = event(&case["event"]);
    simulated["timestamp"] = json!("2024-12-20T16:04:11Z");
    let calculation = simulate(&h, &simulated, &with_tax()).await;
    assert!(calculation.result.len() <= 1);
    calculation.result.first().map(|line| {
        [
            line.amount_excluding_tax,
            line.tax_amount,
            line.total_amount,
        ]
    })
}
