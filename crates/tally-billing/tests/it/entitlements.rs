//! Features, entitlements and usage limits: validation, resolution over
//! subscriptions, overrides and defaults, and checks against live usage.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_billing::entitlements::{
    CustomerEntitlementInput, EntitlementInput, EntitlementSource, FeatureInput, FeaturePatch,
};
use tally_billing::{BillingError, RollupState};
use tally_event::{EventType, RecordId};
use tally_store::FeatureValue;

use crate::support::{Harness, codes, problems};

fn feature(body: Value) -> FeatureInput {
    serde_json::from_value(body).unwrap()
}

fn number(value: i64) -> FeatureValue {
    FeatureValue::Number(Decimal::from(value))
}

async fn grant(h: &Harness, product: &str, code: &str, value: Value) {
    let input: EntitlementInput = serde_json::from_value(json!({ "value": value })).unwrap();
    h.billing
        .put_product_entitlement(&h.account, product, code, &input)
        .await
        .unwrap();
}

async fn fee_product(h: &Harness, name: &str) -> String {
    h.product(json!({"name": name, "type": "fee", "currency": "EUR",
        "price_groups": [{"name": "fee", "price": {"type": "flat", "amount": "1000"}}]}))
        .await
        .id
        .to_string()
}

async fn monthly(h: &Harness, customer: &str, products: &[&str], starts_at: &str) {
    h.subscription(json!({"customer_id": customer, "product_ids": products,
        "starts_at": starts_at, "billing_interval": {"period": "months", "count": 1}}))
        .await;
}

#[tokio::test]
async fn features_are_checked_whole() {
    let h = Harness::new("2024-12-15T00:00:00Z").await;
    let bad = feature(json!({"code": "Seats!", "value_type": "text",
        "description": "x".repeat(1001)}));
    let found = codes(&problems(h.billing.create_feature(&h.account, &bad).await));
    assert_eq!(
        found,
        [
            "/code invalid_code",
            "/name required",
            "/description too_long",
            "/value_type invalid_value"
        ]
    );
    let boolean = feature(
        json!({"code": "sso", "name": "SSO", "value_type": "boolean",
        "default_value": 3, "resolution_strategy": "sum", "aggregator_id": "agg_nope"}),
    );
    let found = codes(&problems(
        h.billing.create_feature(&h.account, &boolean).await,
    ));
    assert_eq!(
        found,
        [
            "/default_value invalid_type",
            "/resolution_strategy not_for_boolean",
            "/aggregator_id not_for_boolean"
        ]
    );
    let unknown = feature(
        json!({"code": "calls", "name": "Calls", "value_type": "number",
        "default_value": -1, "aggregator_id": "agg_nope", "aggregator_filter_id": "agf_x"}),
    );
    let found = problems(h.billing.create_feature(&h.account, &unknown).await);
    assert_eq!(
        codes(&found),
        [
            "/default_value out_of_range",
            "/aggregator_id aggregator_not_found"
        ]
    );
    let orphan_filter = feature(
        json!({"code": "calls", "name": "Calls", "value_type": "number",
        "aggregator_filter_id": "agf_x"}),
    );
    let found = codes(&problems(
        h.billing.create_feature(&h.account, &orphan_filter).await,
    ));
    assert_eq!(found, ["/aggregator_filter_id requires_aggregator"]);

    let seats = feature(json!({"code": "seats", "name": "Seats", "value_type": "number"}));
    let created = h.billing.create_feature(&h.account, &seats).await.unwrap();
    assert_eq!(created.default_value, number(0), "a number defaults to 0");
    let again = h.billing.create_feature(&h.account, &seats).await;
    assert!(
        matches!(again, Err(BillingError::Taken { ref path, .. }) if path == "/code"),
        "{again:?}"
    );

    let patch: FeaturePatch = serde_json::from_value(
        json!({"code": "other", "value_type": "boolean", "default_value": null,
               "description": "per plan"}),
    )
    .unwrap();
    let found = codes(&problems(
        h.billing.update_feature(&h.account, "seats", &patch).await,
    ));
    assert_eq!(found, ["/code immutable", "/value_type immutable"]);
    let nulls: FeaturePatch =
        serde_json::from_value(json!({"code": null, "value_type": null})).unwrap();
    let found = codes(&problems(
        h.billing.update_feature(&h.account, "seats", &nulls).await,
    ));
    assert_eq!(
        found,
        ["/code immutable", "/value_type immutable"],
        "even null"
    );
    let patch: FeaturePatch =
        serde_json::from_value(json!({"default_value": null, "description": "per plan",
            "resolution_strategy": "sum"}))
        .unwrap();
    let updated = h
        .billing
        .update_feature(&h.account, "seats", &patch)
        .await
        .unwrap();
    assert_eq!(updated.default_value, FeatureValue::Unlimited);
    assert_eq!(updated.description.as_deref(), Some("per plan"));
    assert_eq!(updated.name, "Seats", "an absent field is kept");
    let cleared: FeaturePatch = serde_json::from_value(json!({"description": null})).unwrap();
    let updated = h
        .billing
        .update_feature(&h.account, "seats", &cleared)
        .await
        .unwrap();
    assert_eq!(updated.description, None);
    assert_eq!(updated.default_value, FeatureValue::Unlimited);
    assert_eq!(
        updated.resolution_strategy,
        Some(tally_store::ResolutionStrategy::Sum)
    );
    let reset: FeaturePatch = serde_json::from_value(json!({"resolution_strategy": null})).unwrap();
    let updated = h
        .billing
        .update_feature(&h.account, "seats", &reset)
        .await
        .unwrap();
    assert_eq!(
        updated.resolution_strategy,
        Some(tally_store::ResolutionStrategy::Maximum),
        "null puts the default back"
    );
}

#[tokio::test]
async fn resolution_takes_overrides_then_products_then_defaults() {
    let h = Harness::new("2024-12-15T00:00:00Z").await;
    for body in [
        json!({"code": "seats", "name": "Seats", "value_type": "number", "default_value": 1}),
        json!({"code": "storage", "name": "Storage", "value_type": "number",
               "resolution_strategy": "sum"}),
        json!({"code": "sso", "name": "SSO", "value_type": "boolean"}),
    ] {
        h.billing
            .create_feature(&h.account, &feature(body))
            .await
            .unwrap();
    }
    let starter = fee_product(&h, "Starter").await;
    let pro = fee_product(&h, "Pro").await;
    let storage_pack = fee_product(&h, "Storage pack").await;
    grant(&h, &starter, "seats", json!(5)).await;
    grant(&h, &starter, "sso", json!(false)).await;
    grant(&h, &starter, "storage", json!("10.5")).await;
    grant(&h, &pro, "seats", json!(12)).await;
    grant(&h, &pro, "sso", json!(true)).await;
    grant(&h, &storage_pack, "storage", json!(100)).await;
    // A value of the wrong type, or for a feature or product that does not
    // exist, is refused.
    let wrong: EntitlementInput = serde_json::from_value(json!({"value": "yes"})).unwrap();
    let found = codes(&problems(
        h.billing
            .put_product_entitlement(&h.account, &pro, "sso", &wrong)
            .await,
    ));
    assert_eq!(found, ["/value invalid_type"]);
    let missing = h
        .billing
        .put_product_entitlement(&h.account, &pro, "nope", &wrong)
        .await;
    assert!(matches!(missing, Err(BillingError::NotFound { .. })));

    h.customer("acme", None).await;
    monthly(
        &h,
        "acme",
        &[&starter, &storage_pack],
        "2024-11-01T00:00:00Z",
    )
    .await;
    monthly(&h, "acme", &[&pro, &storage_pack], "2024-12-10T00:00:00Z").await;

    let resolved = |features: &tally_billing::entitlements::CustomerFeatures, code: &str| {
        let found = features
            .features
            .iter()
            .find(|f| f.feature.code == code)
            .unwrap();
        (found.value, found.source)
    };
    let all = |features: &tally_billing::entitlements::CustomerFeatures| {
        ["seats", "storage", "sso"].map(|code| resolved(features, code))
    };
    let product = EntitlementSource::Product;
    let decimal = |text: &str| FeatureValue::Number(text.parse().unwrap());
    // Before the second subscription starts: the starter and one pack.
    let early = h
        .billing
        .customer_features(&h.account, "acme", Some("2024-12-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        all(&early),
        [
            (number(5), product),
            (decimal("110.5"), product),
            (FeatureValue::Boolean(false), product)
        ]
    );
    // Now: the maximum of the seats, the sum of the storage (two packs), any
    // product turning SSO on.
    let now = h
        .billing
        .customer_features(&h.account, "acme", None)
        .await
        .unwrap();
    assert_eq!(
        all(&now),
        [
            (number(12), product),
            (decimal("210.5"), product),
            (FeatureValue::Boolean(true), product)
        ]
    );
    // An override wins until it expires.
    let own: CustomerEntitlementInput = serde_json::from_value(json!({"value": null,
        "reason": "enterprise pilot", "expires_at": "2024-12-20T00:00:00Z"}))
    .unwrap();
    h.billing
        .put_customer_entitlement(&h.account, "acme", "seats", &own)
        .await
        .unwrap();
    let now = h
        .billing
        .customer_features(&h.account, "acme", None)
        .await
        .unwrap();
    assert_eq!(
        resolved(&now, "seats"),
        (FeatureValue::Unlimited, EntitlementSource::Customer)
    );
    let later = h
        .billing
        .customer_features(&h.account, "acme", Some("2024-12-20T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        resolved(&later, "seats"),
        (number(12), EntitlementSource::Product)
    );
    // A customer without subscriptions has the defaults.
    h.customer("solo", None).await;
    let solo = h
        .billing
        .customer_features(&h.account, "solo", None)
        .await
        .unwrap();
    assert_eq!(
        resolved(&solo, "seats"),
        (number(1), EntitlementSource::Default)
    );
    assert_eq!(
        resolved(&solo, "sso"),
        (FeatureValue::Boolean(false), EntitlementSource::Default)
    );
    let bad_at = h
        .billing
        .customer_features(&h.account, "solo", Some("soon"))
        .await;
    assert_eq!(codes(&problems(bad_at)), ["/at invalid_timestamp"]);
}

#[tokio::test]
async fn a_usage_limit_counts_the_period_live() {
    let h = Harness::new("2024-12-15T00:00:00Z").await;
    let eu = json!({"property": "region", "operator": "equals", "value": "eu"});
    let calls = h
        .aggregator(
            json!({"name": "calls", "event_type": "api_call", "operation": "count",
            "filters": [{"name": "eu", "where": eu}]}),
        )
        .await;
    let filter = calls.definition.filters[0].id.clone();
    let product = h
        .product(
            json!({"name": "API", "type": "usage", "aggregator_id": calls.id,
            "currency": "EUR",
            "price_groups": [{"name": "all", "price": {"type": "per_unit", "unit_amount": "1"}}]}),
        )
        .await;
    let plan = fee_product(&h, "Plan").await;
    for body in [
        json!({"code": "api_calls", "name": "API calls", "value_type": "number",
               "aggregator_id": calls.id}),
        json!({"code": "eu_calls", "name": "EU calls", "value_type": "number",
               "default_value": 1, "aggregator_id": calls.id, "aggregator_filter_id": filter}),
    ] {
        h.billing
            .create_feature(&h.account, &feature(body))
            .await
            .unwrap();
    }
    grant(&h, &plan, "api_calls", json!(3)).await;
    h.customer("acme", None).await;
    monthly(
        &h,
        "acme",
        &[plan.as_str(), &product.id.to_string()],
        "2024-11-05T00:00:00Z",
    )
    .await;
    let event = |id: u32, at: &str, region: &str| {
        json!({"event_type": "api_call", "customer_id": "acme", "timestamp": at,
               "record": {"id": id, "region": region}})
    };
    // One call in the previous period (Nov 5 to Dec 5) never counts.
    let batch = vec![
        event(1, "2024-12-01T10:00:00Z", "eu"),
        event(2, "2024-12-06T10:00:00Z", "eu"),
        event(3, "2024-12-14T23:59:59Z", "us"),
    ];
    h.billing.ingest_batch(&h.account, &batch).await.unwrap();

    let check = |code: &'static str, quantity: Option<&'static str>| {
        let billing = h.billing.clone();
        let account = h.account.clone();
        async move {
            billing
                .check_feature(&account, "acme", code, quantity)
                .await
                .unwrap()
        }
    };
    let first = check("api_calls", None).await;
    assert!(first.allowed);
    assert_eq!(first.usage, Some(Decimal::from(2)));
    assert_eq!(first.remaining, Some(Decimal::ONE));
    assert_eq!(first.value, number(3));
    assert_eq!(first.source, EntitlementSource::Product);
    let period = first.period.unwrap();
    assert_eq!(
        (period.start().to_rfc3339(), period.end().to_rfc3339()),
        (
            "2024-12-05T00:00:00.000Z".to_owned(),
            "2025-01-05T00:00:00.000Z".to_owned()
        )
    );
    assert!(check("api_calls", Some("1")).await.allowed);
    assert!(!check("api_calls", Some("1.5")).await.allowed);
    // The filter counts only the EU calls, against the default limit.
    let eu_calls = check("eu_calls", None).await;
    assert_eq!(
        (eu_calls.usage, eu_calls.allowed, eu_calls.source),
        (Some(Decimal::ONE), false, EntitlementSource::Default)
    );

    // Every acknowledged event counts at once, served by rollups or not.
    h.billing
        .ingest_batch(&h.account, &[event(4, "2024-12-15T00:00:00Z", "eu")])
        .await
        .unwrap();
    let reached = check("api_calls", None).await;
    assert_eq!(
        (reached.allowed, reached.usage, reached.remaining),
        (false, Some(Decimal::from(3)), Some(Decimal::ZERO))
    );
    h.billing.finish_backfills().await.unwrap();
    let entry = h
        .billing
        .get_aggregator(&h.account, &calls.id.to_string())
        .await
        .unwrap();
    assert!(matches!(entry.rollup, RollupState::Ready { .. }));
    assert_eq!(check("api_calls", None).await, reached);
    // A deletion gives the call back.
    let api_call = EventType::parse("api_call").unwrap();
    h.billing
        .store()
        .delete_events(&h.account, &api_call, &[RecordId::from_integer(4)])
        .await
        .unwrap();
    assert!(check("api_calls", None).await.allowed);
    assert_eq!(check("eu_calls", None).await.usage, Some(Decimal::ONE));

    // An unlimited override allows anything.
    let own: CustomerEntitlementInput = serde_json::from_value(json!({"value": null})).unwrap();
    h.billing
        .put_customer_entitlement(&h.account, "acme", "api_calls", &own)
        .await
        .unwrap();
    let unlimited = check("api_calls", Some("1000000")).await;
    assert_eq!(
        (unlimited.allowed, unlimited.remaining, unlimited.source),
        (true, None, EntitlementSource::Customer)
    );

    // The aggregator and its filter cannot go while a feature reads them.
    let deleted = h
        .billing
        .delete_aggregator(&h.account, &calls.id.to_string())
        .await;
    assert!(
        matches!(deleted, Err(BillingError::Conflict { .. })),
        "{deleted:?}"
    );
    let without_filter = serde_json::from_value(
        json!({"name": "calls", "event_type": "api_call", "operation": "count"}),
    )
    .unwrap();
    let updated = h
        .billing
        .update_aggregator(&h.account, &calls.id.to_string(), &without_filter)
        .await;
    assert!(
        matches!(updated, Err(BillingError::Conflict { ref reason, .. }) if reason.contains("eu_calls")),
        "{updated:?}"
    );
}

#[tokio::test]
async fn booleans_check_their_flag_and_plain_numbers_are_not_limits() {
    let h = Harness::new("2024-12-15T00:00:00Z").await;
    for body in [
        json!({"code": "sso", "name": "SSO", "value_type": "boolean"}),
        json!({"code": "seats", "name": "Seats", "value_type": "number"}),
    ] {
        h.billing
            .create_feature(&h.account, &feature(body))
            .await
            .unwrap();
    }
    h.customer("acme", None).await;
    let off = h
        .billing
        .check_feature(&h.account, "acme", "sso", None)
        .await
        .unwrap();
    assert_eq!((off.allowed, off.usage, off.period), (false, None, None));
    let on: CustomerEntitlementInput = serde_json::from_value(json!({"value": true})).unwrap();
    h.billing
        .put_customer_entitlement(&h.account, "acme", "sso", &on)
        .await
        .unwrap();
    let checked = h
        .billing
        .check_feature(&h.account, "acme", "sso", None)
        .await
        .unwrap();
    assert!(checked.allowed);
    let plain = h
        .billing
        .check_feature(&h.account, "acme", "seats", None)
        .await;
    assert_eq!(codes(&problems(plain)), ["/code not_a_usage_limit"]);
    let negative = h
        .billing
        .check_feature(&h.account, "acme", "sso", Some("-2"))
        .await;
    assert_eq!(codes(&problems(negative)), ["/quantity out_of_range"]);
    let nobody = h
        .billing
        .check_feature(&h.account, "nobody", "sso", None)
        .await;
    assert!(matches!(nobody, Err(BillingError::NotFound { .. })));
}
