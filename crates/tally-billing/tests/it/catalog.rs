//! Catalog validation: every problem of a request at once, as snapshots, and the
//! rules that cross objects (filters, currencies, objects in use).

use serde_json::{Value, json};
use tally_billing::{BillingError, CustomerInput, Pagination, ProductInput, SubscriptionInput};

use crate::support::{Harness, codes, problems};

const NOW: &str = "2024-01-10T00:00:00Z";

fn users_aggregator() -> Value {
    json!({"name": "Active users", "event_type": "users", "operation": "count",
           "type": "licensed", "unit_name": "user",
           "where": {"conditional": "and", "fields": [{"property": "deleted_at", "operator": "is_null"}]},
           "filters": [{"name": "premium", "where": {"conditional": "and", "fields": [
               {"property": "status", "operator": "equals", "value": "premium"}]}}]})
}

#[tokio::test]
async fn customer_problems() {
    let h = Harness::new(NOW).await;
    let input: CustomerInput = serde_json::from_value(json!({
        "external_id": "", "name": "x".repeat(256), "type": "automatically_created",
        "currency": "EURO", "tax_rate": "120.5"}))
    .unwrap();
    let result = h.billing.create_customer(&h.account, &input).await;
    insta::assert_yaml_snapshot!(problems(result));
}

#[tokio::test]
async fn customer_crud_and_unique_external_ids() {
    let h = Harness::new(NOW).await;
    let input: CustomerInput = serde_json::from_value(
        json!({"external_id": "acme-42", "name": "Acme", "type": "corporate", "currency": "eur", "tax_rate": 20}),
    )
    .unwrap();
    let created = h.billing.create_customer(&h.account, &input).await.unwrap();
    assert_eq!(created.currency.as_deref(), Some("EUR"));
    assert_eq!(created.tax_rate.map(|r| r.to_string()), Some("20".into()));
    let duplicate = h.billing.create_customer(&h.account, &input).await;
    assert!(
        matches!(&duplicate, Err(BillingError::Taken { path, .. }) if path == "/external_id"),
        "{duplicate:?}"
    );

    let renamed = CustomerInput {
        name: Some("Acme Corp".into()),
        ..input.clone()
    };
    let updated = h
        .billing
        .update_customer(&h.account, created.id.as_str(), &renamed)
        .await
        .unwrap();
    assert_eq!(
        (updated.id, updated.name.as_deref()),
        (created.id.clone(), Some("Acme Corp"))
    );
    let page = h
        .billing
        .list_customers(&h.account, Pagination::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    h.billing
        .delete_customer(&h.account, "acme-42")
        .await
        .unwrap();
    let gone = h
        .billing
        .get_customer(&h.account, created.id.as_str())
        .await;
    assert!(
        matches!(gone, Err(BillingError::NotFound { what: "customer" })),
        "{gone:?}"
    );
    let malformed = h.billing.get_customer(&h.account, "").await;
    assert!(matches!(malformed, Err(BillingError::NotFound { .. })));
}

#[tokio::test]
async fn aggregator_problems() {
    let h = Harness::new(NOW).await;
    let definition = serde_json::from_value(json!({
        "name": "", "event_type": "api call", "operation": "sum", "type": "monthly",
        "where": {"conditional": "xor", "fields": []},
        "filters": [{"name": "", "where": {"conditional": "and", "fields": [{"property": "a", "operator": "is"}]}}]}))
    .unwrap();
    let result = h.billing.create_aggregator(&h.account, &definition).await;
    insta::assert_yaml_snapshot!(problems(result));
}

#[tokio::test]
async fn aggregator_filters_get_ids_that_updates_keep() {
    let h = Harness::new(NOW).await;
    let created = h.aggregator(users_aggregator()).await;
    let filter_id = created.definition.filters[0].id.clone();
    assert!(filter_id.starts_with("agf_"), "{filter_id}");

    let mut definition = created.definition.clone();
    definition.name = "Users".into();
    definition
        .filters
        .push(tally_aggregate::AggregatorFilterDef {
            id: String::new(),
            name: "basic".into(),
            where_: None,
        });
    let updated = h
        .billing
        .update_aggregator(&h.account, created.id.as_str(), &definition)
        .await
        .unwrap();
    assert_eq!(updated.definition.filters[0].id, filter_id);
    assert!(updated.definition.filters[1].id.starts_with("agf_"));
    assert_ne!(updated.definition.filters[1].id, filter_id);

    definition.filters[1].id = "agf_somewhereElse".into();
    let foreign = h
        .billing
        .update_aggregator(&h.account, created.id.as_str(), &definition)
        .await;
    assert_eq!(
        codes(&problems(foreign)),
        ["/filters/1/id unknown_filter_id"]
    );
}

#[tokio::test]
async fn aggregators_and_filters_in_use_cannot_go() {
    let h = Harness::new(NOW).await;
    let aggregator = h.aggregator(users_aggregator()).await;
    let filter_id = aggregator.definition.filters[0].id.clone();
    h.product(
        json!({"name": "Seats", "type": "usage", "aggregator_id": aggregator.id,
        "currency": "EUR", "price_groups": [{"name": "premium", "aggregator_filter_id": filter_id,
        "price": {"type": "per_unit", "unit_amount": "1000"}}]}),
    )
    .await;
    let mut without_filter = aggregator.definition.clone();
    without_filter.filters.clear();
    let result = h
        .billing
        .update_aggregator(&h.account, aggregator.id.as_str(), &without_filter)
        .await;
    assert!(
        matches!(result, Err(BillingError::Conflict { .. })),
        "{result:?}"
    );
    let result = h
        .billing
        .delete_aggregator(&h.account, aggregator.id.as_str())
        .await;
    assert!(
        matches!(result, Err(BillingError::Conflict { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn product_problems() {
    let h = Harness::new(NOW).await;
    let users = h.aggregator(users_aggregator()).await;
    let other = h
        .aggregator(
            json!({"name": "Calls", "event_type": "api_call", "operation": "count",
            "filters": [{"name": "verified", "where": null}]}),
        )
        .await;
    let foreign_filter = other.definition.filters[0].id.clone();
    let input: ProductInput = serde_json::from_value(json!({
        "name": " ", "type": "usage", "aggregator_id": users.id, "currency": "EUR",
        "min_amount": "500", "max_amount": "100.5",
        "price_groups": [
            {"name": "premium", "aggregator_filter_id": foreign_filter,
             "price": {"type": "volume", "tiers": [
                {"up_to": "1000", "unit_amount": "2"}, {"up_to": "500", "unit_amount": "1"}]}},
            {"name": "all", "price": {"type": "per_unit", "unit_amount": "-1"}},
            {"name": "typo", "price": {"type": "per_unti", "unit_amount": "1"}},
            {"price": null}]}))
    .unwrap();
    let result = h.billing.create_product(&h.account, &input).await;
    insta::assert_yaml_snapshot!(problems(result));
}

#[tokio::test]
async fn usage_and_fee_products_need_the_right_aggregator() {
    let h = Harness::new(NOW).await;
    let users = h.aggregator(users_aggregator()).await;
    let flat = json!({"name": "base", "price": {"type": "flat", "amount": "2900"}});
    let cases = [
        (
            json!({"name": "Seats", "type": "usage", "currency": "EUR", "price_groups": [flat]}),
            vec!["/aggregator_id required"],
        ),
        (
            json!({"name": "Seats", "type": "usage", "aggregator_id": "agg_missing", "currency": "EUR", "price_groups": [flat]}),
            vec!["/aggregator_id aggregator_not_found"],
        ),
        (
            json!({"name": "Fee", "type": "fee", "aggregator_id": users.id, "currency": "EUR",
                "price_groups": [{"name": "pct", "price": {"type": "percentage", "rate": "2.9", "property": "amount"}}]}),
            vec![
                "/aggregator_id unexpected_aggregator",
                "/price_groups/0/price/type percentage_needs_usage",
            ],
        ),
        (
            json!({"name": "Fee", "type": "subscription", "currency": "XYZ", "price_groups": []}),
            vec![
                "/type invalid_value",
                "/currency invalid_currency",
                "/price_groups required",
            ],
        ),
    ];
    for (body, expected) in cases {
        let input: ProductInput = serde_json::from_value(body.clone()).unwrap();
        let result = h.billing.create_product(&h.account, &input).await;
        assert_eq!(codes(&problems(result)), expected, "{body}");
    }
    let fee = h
        .product(json!({"name": "Platform fee", "type": "fee", "currency": "EUR", "price_groups": [flat]}))
        .await;
    assert_eq!(
        serde_json::to_value(&fee.price_groups[0].price).unwrap(),
        json!({"type": "flat", "amount": "2900"})
    );
}

#[tokio::test]
async fn product_updates_keep_price_group_ids() {
    let h = Harness::new(NOW).await;
    let product = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
        .await;
    let group = product.price_groups[0].id.to_string();
    let input: ProductInput =
        serde_json::from_value(json!({"name": "Fee", "type": "fee", "currency": "EUR",
        "price_groups": [{"id": group, "name": "base", "price": {"type": "flat", "amount": 3900}},
                         {"name": "extra", "price": {"type": "flat", "amount": 100}}]}))
        .unwrap();
    let updated = h
        .billing
        .update_product(&h.account, product.id.as_str(), &input)
        .await
        .unwrap();
    assert_eq!(updated.price_groups[0].id.as_str(), group);
    assert_eq!(updated.price_groups.len(), 2);
}

#[tokio::test]
async fn subscription_problems() {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", None).await;
    let usd = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "USD",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
        .await;
    let input: SubscriptionInput = serde_json::from_value(json!({
        "customer_id": "acme-42", "product_ids": [usd.id, "itm_missing", usd.id],
        "starts_at": "soon", "billing_interval": {"period": "fortnights", "count": 0},
        "tax_rate": -1}))
    .unwrap();
    let result = h.billing.create_subscription(&h.account, &input).await;
    insta::assert_yaml_snapshot!(problems(result));
    let nobody: SubscriptionInput =
        serde_json::from_value(json!({"customer_id": "nobody", "product_ids": []})).unwrap();
    let result = h.billing.create_subscription(&h.account, &nobody).await;
    assert_eq!(
        codes(&problems(result)),
        ["/customer_id customer_not_found", "/product_ids required"]
    );
}

#[tokio::test]
async fn subscriptions_default_and_guard_their_objects() {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", Some("20")).await;
    let fee = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [fee.id]}))
        .await;
    assert_eq!(subscription.currency, "EUR");
    assert_eq!(subscription.starts_at, crate::support::at(NOW));
    assert_eq!(subscription.billing_interval.count, 1);
    let listed = h
        .billing
        .list_subscriptions(&h.account, Some("acme-42"), Pagination::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 1);

    let product = h.billing.delete_product(&h.account, fee.id.as_str()).await;
    assert!(
        matches!(product, Err(BillingError::Conflict { .. })),
        "{product:?}"
    );
    let customer = h.billing.delete_customer(&h.account, "acme-42").await;
    assert!(
        matches!(customer, Err(BillingError::Conflict { .. })),
        "{customer:?}"
    );
    h.billing
        .delete_subscription(&h.account, subscription.id.as_str())
        .await
        .unwrap();
    h.billing
        .delete_product(&h.account, fee.id.as_str())
        .await
        .unwrap();
}

/// A subscription with an invoice keeps its customer and currency, and stays:
/// the invoice, its consumption and its exports name both.
#[tokio::test]
async fn a_subscription_with_invoices_keeps_its_customer_and_currency() {
    let h = Harness::new(NOW).await;
    h.customer("globex", None).await;
    // No currency of its own: it can follow its subscription's products.
    let acme: CustomerInput =
        serde_json::from_value(json!({"external_id": "acme-42", "name": "Acme"})).unwrap();
    h.billing.create_customer(&h.account, &acme).await.unwrap();
    let fee = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "EUR",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]}))
        .await;
    let usd_fee = h
        .product(json!({"name": "Fee", "type": "fee", "currency": "USD",
            "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 3100}}]}))
        .await;
    let body = json!({"customer_id": "acme-42", "product_ids": [fee.id], "starts_at": NOW});
    let subscription = h.subscription(body.clone()).await;
    let id = subscription.id.as_str();
    let moved: SubscriptionInput = serde_json::from_value(
        json!({"customer_id": "globex", "product_ids": [fee.id], "starts_at": NOW}),
    )
    .unwrap();
    // Without invoices the customer may change.
    h.billing
        .update_subscription(&h.account, id, &moved)
        .await
        .unwrap();
    let back: SubscriptionInput = serde_json::from_value(body).unwrap();
    h.billing
        .update_subscription(&h.account, id, &back)
        .await
        .unwrap();
    h.billing
        .create_invoice(&h.account, id, Some(crate::support::at(NOW)))
        .await
        .unwrap();

    let refused = h.billing.update_subscription(&h.account, id, &moved).await;
    assert!(
        matches!(&refused, Err(BillingError::Conflict { reason, .. })
            if reason == "subscription has invoices: its customer and currency are fixed"),
        "{refused:?}"
    );
    let in_dollars = SubscriptionInput {
        product_ids: vec![usd_fee.id.to_string()],
        currency: Some("USD".into()),
        ..back.clone()
    };
    let refused = h
        .billing
        .update_subscription(&h.account, id, &in_dollars)
        .await;
    assert!(
        matches!(refused, Err(BillingError::Conflict { .. })),
        "{refused:?}"
    );
    let same = SubscriptionInput {
        tax_rate: Some("10".parse().unwrap()),
        ..back
    };
    let updated = h
        .billing
        .update_subscription(&h.account, id, &same)
        .await
        .unwrap();
    assert_eq!(updated.customer_id, subscription.customer_id);

    let deleted = h.billing.delete_subscription(&h.account, id).await;
    assert!(
        matches!(deleted, Err(BillingError::Conflict { .. })),
        "{deleted:?}"
    );
    h.billing.get_subscription(&h.account, id).await.unwrap();
}

/// A product or customer a subscription uses keeps its currency; other
/// changes, and currency changes once unused, go through.
#[tokio::test]
async fn a_product_or_customer_in_use_keeps_its_currency() {
    let h = Harness::new(NOW).await;
    h.customer("acme-42", None).await;
    let fee_body = json!({"name": "Fee", "type": "fee", "currency": "EUR",
        "price_groups": [{"name": "base", "price": {"type": "flat", "amount": 2900}}]});
    let fee = h.product(fee_body.clone()).await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [fee.id]}))
        .await;
    // Updates name the group they keep.
    let mut fee_body = fee_body;
    fee_body["price_groups"][0]["id"] = json!(fee.price_groups[0].id);

    let mut in_dollars = fee_body.clone();
    in_dollars["currency"] = json!("USD");
    let in_dollars: ProductInput = serde_json::from_value(in_dollars).unwrap();
    let product = h
        .billing
        .update_product(&h.account, fee.id.as_str(), &in_dollars)
        .await;
    assert!(
        matches!(product, Err(BillingError::Conflict { .. })),
        "{product:?}"
    );
    let mut renamed = fee_body;
    renamed["name"] = json!("Base fee");
    let renamed: ProductInput = serde_json::from_value(renamed).unwrap();
    h.billing
        .update_product(&h.account, fee.id.as_str(), &renamed)
        .await
        .unwrap();

    let customer_in_dollars = CustomerInput {
        external_id: Some("acme-42".into()),
        name: Some("ACME-42".into()),
        customer_type: Some("corporate".into()),
        currency: Some("USD".into()),
        tax_rate: None,
    };
    let customer = h
        .billing
        .update_customer(&h.account, "acme-42", &customer_in_dollars)
        .await;
    assert!(
        matches!(customer, Err(BillingError::Conflict { .. })),
        "{customer:?}"
    );
    assert_eq!(
        h.billing
            .get_customer(&h.account, "acme-42")
            .await
            .unwrap()
            .currency
            .as_deref(),
        Some("EUR")
    );

    h.billing
        .delete_subscription(&h.account, subscription.id.as_str())
        .await
        .unwrap();
    h.billing
        .update_product(&h.account, fee.id.as_str(), &in_dollars)
        .await
        .unwrap();
    h.billing
        .update_customer(&h.account, "acme-42", &customer_in_dollars)
        .await
        .unwrap();
}
