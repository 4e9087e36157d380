//! Catalog checks: accounts, keys, customers, aggregators, products,
//! subscriptions and invoices round-trip exactly.

use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;
use tally_event::{CustomerRef, EventType, Period};
use tally_pricing::{Currency, PriceModel, ProductBounds};

use super::fixtures::{at, new_account, new_customer};
use crate::catalog::{
    Account, AggregatorRecord, BillingInterval, Customer, CustomerType, IntervalUnit, Invoice,
    InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceUpdate, NewInvoice, PriceGroup, Product,
    ProductKind, Subscription, SubscriptionQuery,
};
use crate::error::StoreError;
use crate::ids::{
    AccountId, AggregatorFilterId, AggregatorId, ApiKeyId, CustomerId, InvoiceId, PriceGroupId,
    ProductId, SubscriptionId,
};
use crate::keys::{ApiKey, ApiKeyHash, generate_api_key_secret};
use crate::page::PageRequest;
use crate::price_versions::PriceVersion;
use crate::traits::Store;
use crate::versions::EventSeq;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// A validated price model from its JSON definition.
fn price(definition: serde_json::Value) -> PriceModel {
    serde_json::from_value(definition).unwrap()
}

fn bounds(min_amount: Option<&str>, max_amount: Option<&str>) -> ProductBounds {
    ProductBounds::parse(min_amount.map(dec), max_amount.map(dec)).unwrap()
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

/// Accounts by id and name; API keys found by hash only, revocable.
pub async fn accounts_and_keys(store: &Arc<dyn Store>) {
    let account_id = new_account(store).await;
    let account = store.get_account(&account_id).await.unwrap();
    let by_name = store.find_account_by_name(&account.name).await.unwrap();
    assert_eq!(by_name.as_ref(), Some(&account));
    assert!(
        store
            .find_account_by_name("no such account")
            .await
            .unwrap()
            .is_none()
    );
    let same_name = Account {
        id: AccountId::random(),
        ..account.clone()
    };
    assert!(
        is_conflict(&store.create_account(&same_name).await),
        "names are unique"
    );
    assert!(store.list_accounts().await.unwrap().contains(&account));
    let settings = json!({"pii_policy": "mask", "max_future_skew_ms": 12345678901234567890u64});
    let updated = store
        .update_account_settings(&account_id, &settings)
        .await
        .unwrap();
    assert_eq!(updated.settings, settings);
    assert_eq!(store.get_account(&account_id).await.unwrap(), updated);
    assert!(is_not_found(
        &store
            .update_account_settings(&AccountId::random(), &settings)
            .await
    ));

    let secret = generate_api_key_secret(&mut rand::rng());
    let key = ApiKey {
        id: ApiKeyId::random(),
        account_id: account_id.clone(),
        hash: ApiKeyHash::of_secret(&secret),
        created_at: at(5),
    };
    store.create_api_key(&key).await.unwrap();
    let older = ApiKey {
        id: ApiKeyId::random(),
        hash: ApiKeyHash::of_secret(&format!("{secret}-older")),
        created_at: at(4),
        ..key.clone()
    };
    store.create_api_key(&older).await.unwrap();
    assert_eq!(
        store.list_api_keys(&account_id).await.unwrap(),
        [older.clone(), key.clone()],
        "oldest first"
    );
    let found = store
        .find_api_key(&ApiKeyHash::of_secret(&secret))
        .await
        .unwrap();
    assert_eq!(
        found.as_ref(),
        Some(&key),
        "lookup by the hash of the secret"
    );
    let other = ApiKeyHash::of_secret(&format!("{secret}x"));
    assert!(store.find_api_key(&other).await.unwrap().is_none());
    let dup = ApiKey {
        id: ApiKeyId::random(),
        ..key.clone()
    };
    assert!(
        is_conflict(&store.create_api_key(&dup).await),
        "hashes are unique"
    );
    store.delete_api_key(&account_id, &key.id).await.unwrap();
    assert!(
        store.find_api_key(&key.hash).await.unwrap().is_none(),
        "revoked"
    );
    assert!(is_not_found(
        &store.delete_api_key(&account_id, &key.id).await
    ));
    assert_eq!(store.list_api_keys(&account_id).await.unwrap(), [older]);
}

/// Create, the uniqueness of ids and external ids, lookups, update, delete, list.
pub async fn customers_crud(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let id = new_customer(store, &account, "acme-42").await;
    let acme = store.get_customer(&account, &id).await.unwrap();
    assert_eq!(acme.tax_rate, Some(dec("20")));
    let by_ext = store
        .find_customer(&account, &CustomerRef::parse("acme-42").unwrap())
        .await
        .unwrap();
    assert_eq!(by_ext, Some(acme.clone()));
    let twin = Customer {
        id: CustomerId::random(),
        ..acme.clone()
    };
    assert!(
        is_conflict(&store.create_customer(&account, &twin).await),
        "external id"
    );
    let same_id = Customer {
        external_id: Some("other".into()),
        ..acme.clone()
    };
    assert!(
        is_conflict(&store.create_customer(&account, &same_id).await),
        "id"
    );

    let person = Customer {
        id: CustomerId::random(),
        external_id: None,
        name: None,
        customer_type: CustomerType::Person,
        currency: None,
        tax_rate: Some(dec("5.5")),
        created_at: at(1),
    };
    store.create_customer(&account, &person).await.unwrap();
    let reference = CustomerRef::parse(person.id.as_str()).unwrap();
    let found = store.find_customer(&account, &reference).await.unwrap();
    assert_eq!(found.as_ref(), Some(&person), "a cus_ id resolves");

    let renamed = Customer {
        name: Some("Acme SA".into()),
        ..acme.clone()
    };
    assert_eq!(
        store.update_customer(&account, &renamed).await.unwrap(),
        renamed
    );
    let stolen = Customer {
        external_id: Some("acme-42".into()),
        ..person.clone()
    };
    assert!(is_conflict(&store.update_customer(&account, &stolen).await));
    let page = store
        .list_customers(&account, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, id, "oldest first");
    store.delete_customer(&account, &id).await.unwrap();
    assert!(is_not_found(&store.get_customer(&account, &id).await));
    assert!(is_not_found(&store.delete_customer(&account, &id).await));
    assert!(is_not_found(
        &store.update_customer(&account, &renamed).await
    ));
}

pub(crate) fn sample_aggregator() -> AggregatorRecord {
    AggregatorRecord {
        id: AggregatorId::random(),
        name: "API calls".into(),
        event_type: EventType::parse("calls").unwrap(),
        definition: serde_json::from_value(json!({
            "name": "API calls", "event_type": "calls",
            "operation": "sum", "property": "amount", "type": "metered",
            "where": {"conditional": "and", "fields": [
                {"property": "weight", "operator": "greater_than", "value": 12345678901234567890.5}]},
            "filters": [{"id": AggregatorFilterId::random(), "name": "premium"}]
        }))
        .unwrap(),
        created_at: at(1),
    }
}

pub(crate) fn sample_product(aggregator: &AggregatorId) -> Product {
    Product {
        id: ProductId::random(),
        name: "API calls".into(),
        kind: ProductKind::Usage,
        aggregator_id: Some(aggregator.clone()),
        currency: Currency::EUR,
        bounds: bounds(None, Some("100000")),
        price_groups: vec![PriceGroup {
            id: PriceGroupId::random(),
            name: "verified".into(),
            aggregator_filter_id: Some(AggregatorFilterId::random()),
            price: price(json!({"type": "per_unit", "unit_amount": "0.0015"})),
        }],
        price_versions: Vec::new(),
        created_at: at(2),
    }
}

pub(crate) fn sample_subscription(customer: &CustomerId, product: &ProductId) -> Subscription {
    Subscription {
        id: SubscriptionId::random(),
        customer_id: customer.clone(),
        product_ids: vec![product.clone()],
        starts_at: at(0),
        billing_interval: BillingInterval {
            unit: IntervalUnit::Months,
            count: 1,
        },
        tax_rate: Some(dec("20")),
        currency: "EUR".into(),
        created_at: at(3),
    }
}

pub(crate) fn sample_invoice(customer: &CustomerId, sub: Option<&SubscriptionId>) -> NewInvoice {
    NewInvoice {
        id: InvoiceId::random(),
        subscription_id: sub.cloned(),
        customer_id: customer.clone(),
        status: InvoiceStatus::Draft,
        period: Period::new(at(0), at(86_400_000)).unwrap(),
        currency: "EUR".into(),
        lines: json!([{"quantity": 1.50, "amount_excluding_tax": 10000}]),
        totals: json!({"total_amount": 12000}),
        known_seq: None,
        basis: None,
        created_at: at(4),
    }
}

/// Aggregators, products (with price groups) and subscriptions keep exact
/// decimals and JSON numbers; update and delete.
pub async fn catalog_round_trips(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let aggregator = sample_aggregator();
    store
        .create_aggregator(&account, &aggregator)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_aggregator(&account, &aggregator.id)
            .await
            .unwrap(),
        aggregator
    );
    assert!(is_conflict(
        &store.create_aggregator(&account, &aggregator).await
    ));
    let calls = EventType::parse("calls").unwrap();
    let of_calls = store
        .aggregators_for_event_type(&account, &calls)
        .await
        .unwrap();
    assert_eq!(of_calls, std::slice::from_ref(&aggregator));
    let renamed = AggregatorRecord {
        name: "Calls".into(),
        ..aggregator.clone()
    };
    assert_eq!(
        store.update_aggregator(&account, &renamed).await.unwrap(),
        renamed
    );
    let listed = store
        .list_aggregators(&account, PageRequest::default())
        .await
        .unwrap();
    assert_eq!((listed.total, listed.items), (1, vec![renamed]));

    let product = sample_product(&aggregator.id);
    store.create_product(&account, &product).await.unwrap();
    assert_eq!(
        store.get_product(&account, &product.id).await.unwrap(),
        product
    );
    let mut changed = product.clone();
    changed.price_groups.push(PriceGroup {
        id: PriceGroupId::random(),
        name: "base".into(),
        aggregator_filter_id: None,
        price: price(json!({"type": "flat", "amount": "2900.50"})),
    });
    changed.bounds = bounds(Some("2900"), Some("100000"));
    changed.price_versions = vec![
        PriceVersion {
            version: 1,
            effective_from: None,
            bounds: product.bounds,
            price_groups: product.price_groups.clone(),
            created_at: at(2),
        },
        PriceVersion {
            version: 2,
            effective_from: Some(at(3)),
            bounds: changed.bounds,
            price_groups: changed.price_groups.clone(),
            created_at: at(3),
        },
    ];
    assert_eq!(
        store.update_product(&account, &changed).await.unwrap(),
        changed
    );
    let read = store.get_product(&account, &product.id).await.unwrap();
    assert_eq!(read, changed);
    // Decimals compare by value: the documents show that their text is kept.
    let documents = |p: &Product| {
        let groups = crate::documents::to_document(&p.price_groups).unwrap();
        (
            groups,
            crate::documents::to_document(&p.price_versions).unwrap(),
        )
    };
    assert_eq!(documents(&read), documents(&changed));
    assert_eq!(
        documents(&read).0[1]["price"]["amount"],
        json!("2900.50"),
        "a price keeps its decimal text"
    );
    assert_eq!(
        store
            .list_products(&account, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );

    let customer = new_customer(store, &account, "acme").await;
    let sub = sample_subscription(&customer, &product.id);
    store.create_subscription(&account, &sub).await.unwrap();
    assert_eq!(
        store.get_subscription(&account, &sub.id).await.unwrap(),
        sub
    );
    let weekly = Subscription {
        billing_interval: BillingInterval {
            unit: IntervalUnit::Weeks,
            count: 2,
        },
        ..sub.clone()
    };
    assert_eq!(
        store.update_subscription(&account, &weekly).await.unwrap(),
        weekly
    );
    let query = SubscriptionQuery {
        customer_id: Some(CustomerId::random()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_subscriptions(&account, &query)
            .await
            .unwrap()
            .total,
        0
    );
    let query = SubscriptionQuery {
        customer_id: Some(customer),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_subscriptions(&account, &query)
            .await
            .unwrap()
            .items,
        [weekly]
    );

    store.delete_subscription(&account, &sub.id).await.unwrap();
    store.delete_product(&account, &product.id).await.unwrap();
    store
        .delete_aggregator(&account, &aggregator.id)
        .await
        .unwrap();
    assert!(is_not_found(
        &store.get_subscription(&account, &sub.id).await
    ));
    assert!(is_not_found(
        &store.get_product(&account, &product.id).await
    ));
    assert!(is_not_found(
        &store.get_aggregator(&account, &aggregator.id).await
    ));
}

/// Numbers start at INV-1; drafts change, finalized invoices are frozen; lists
/// filter and come highest number first.
pub async fn invoices_lifecycle(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let sub = SubscriptionId::random();
    let first = store
        .create_invoice(&account, &sample_invoice(&customer, Some(&sub)))
        .await
        .unwrap();
    assert_eq!(first.number, InvoiceNumber(1));
    assert_eq!(first.number.to_string(), "INV-1");
    let second = store
        .create_invoice(&account, &sample_invoice(&customer, None))
        .await
        .unwrap();
    assert_eq!(second.number, InvoiceNumber(2));
    let dup = NewInvoice {
        id: first.id.clone(),
        ..sample_invoice(&customer, None)
    };
    assert!(is_conflict(&store.create_invoice(&account, &dup).await));
    let third = store
        .create_invoice(&account, &sample_invoice(&customer, None))
        .await
        .unwrap();
    assert_eq!(
        third.number,
        InvoiceNumber(3),
        "a refused create takes no number"
    );
    assert_eq!(store.get_invoice(&account, &first.id).await.unwrap(), first);

    let recomputed = InvoiceUpdate {
        status: InvoiceStatus::Draft,
        lines: json!([]),
        totals: json!({"total_amount": 0}),
        known_seq: None,
        basis: None,
        finalized_at: None,
    };
    let draft = store
        .update_invoice(&account, &first.id, &recomputed)
        .await
        .unwrap();
    assert_eq!(draft.lines, json!([]));
    let finalize = InvoiceUpdate {
        status: InvoiceStatus::Finalized,
        known_seq: Some(EventSeq::new(7).unwrap()),
        basis: Some(json!({"tax_rate": "20.5", "products": [{"min_amount": 1.50}]})),
        finalized_at: Some(at(9)),
        ..recomputed.clone()
    };
    let frozen: Invoice = store
        .update_invoice(&account, &first.id, &finalize)
        .await
        .unwrap();
    assert_eq!(
        (frozen.status, frozen.finalized_at, frozen.known_seq),
        (
            InvoiceStatus::Finalized,
            Some(at(9)),
            Some(EventSeq::new(7).unwrap())
        )
    );
    assert_eq!(frozen.basis, finalize.basis, "the basis is kept as sent");
    assert!(is_conflict(
        &store.update_invoice(&account, &first.id, &recomputed).await
    ));
    assert_eq!(
        store.get_invoice(&account, &first.id).await.unwrap(),
        frozen
    );

    let frozen_at_birth = NewInvoice {
        status: InvoiceStatus::Finalized,
        known_seq: Some(EventSeq::new(3).unwrap()),
        basis: Some(json!({"products": []})),
        ..sample_invoice(&customer, None)
    };
    let born = store
        .create_invoice(&account, &frozen_at_birth)
        .await
        .unwrap();
    let read = store.get_invoice(&account, &born.id).await.unwrap();
    assert_eq!(
        read, born,
        "an invoice created frozen reads back as created"
    );
    assert_eq!(
        (read.finalized_at, read.known_seq),
        (Some(at(4)), Some(EventSeq::new(3).unwrap()))
    );

    let all = store
        .list_invoices(&account, &InvoiceQuery::default())
        .await
        .unwrap();
    let numbers: Vec<u64> = all.items.iter().map(|i| i.number.0).collect();
    assert_eq!((all.total, numbers), (4, vec![4, 3, 2, 1]));
    let of_sub = InvoiceQuery {
        subscription_id: Some(sub),
        ..Default::default()
    };
    let listed = store.list_invoices(&account, &of_sub).await.unwrap();
    assert_eq!(listed.items, [frozen]);
    let missing = store
        .update_invoice(&account, &InvoiceId::random(), &recomputed)
        .await;
    assert!(is_not_found(&missing));
}

/// `find_customers` answers each reference as `find_customer` does: by id
/// first, then by external id; unknown references and other accounts'
/// customers are absent; more references than one query holds.
pub async fn find_customers_in_bulk(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let other = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let bob = new_customer(store, &account, "bob").await;
    // A customer whose external id is another customer's `cus_` id: the id wins.
    let shadow = Customer::automatic(CustomerId::random(), alice.as_str(), at(0));
    store.create_customer(&account, &shadow).await.unwrap();
    let elsewhere = new_customer(store, &other, "carol").await;
    let mut references: Vec<CustomerRef> =
        [alice.as_str(), "bob", "nobody", "carol", elsewhere.as_str()]
            .iter()
            .map(|r| CustomerRef::parse(r).unwrap())
            .collect();
    references.extend((0..2_500).map(|n| CustomerRef::parse(&format!("ghost-{n}")).unwrap()));
    let mut found: Vec<(String, String)> = store
        .find_customers(&account, &references)
        .await
        .unwrap()
        .into_iter()
        .map(|(reference, customer)| (reference.as_str().to_owned(), customer.id.to_string()))
        .collect();
    found.sort();
    let mut expected = vec![
        (alice.to_string(), alice.to_string()),
        ("bob".to_owned(), bob.to_string()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    for (reference, _) in &found {
        let reference = CustomerRef::parse(reference).unwrap();
        let one = store.find_customer(&account, &reference).await.unwrap();
        assert!(one.is_some(), "{reference:?}");
    }
    let none = store.find_customers(&account, &[]).await.unwrap();
    assert!(none.is_empty());
}

/// `resolve_or_create_customers` finds what exists (by id, then external
/// id), creates the rest once each in input order, and a second call finds
/// them all.
pub async fn resolve_or_create_customers_in_bulk(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let alice = new_customer(store, &account, "alice").await;
    let reference = |text: &str| CustomerRef::parse(text).unwrap();
    let wanted: Vec<(CustomerRef, CustomerId)> = [
        reference("alice"),
        reference("new-1"),
        reference(alice.as_str()),
        reference("new-2"),
        reference("new-1"),
    ]
    .into_iter()
    .map(|r| (r, CustomerId::random()))
    .collect();
    let first = store
        .resolve_or_create_customers(&account, &wanted, at(5))
        .await
        .unwrap();
    let summary: Vec<(bool, Option<String>)> = first
        .iter()
        .map(|r| (r.created, r.customer.external_id.clone()))
        .collect();
    let external = |text: &str| Some(text.to_owned());
    assert_eq!(
        summary,
        [
            (false, external("alice")),
            (true, external("new-1")),
            (false, external("alice")),
            (true, external("new-2")),
            (false, external("new-1")),
        ]
    );
    assert_eq!(
        first[1].customer.id, wanted[1].1,
        "the new id given is used"
    );
    assert_eq!(first[4].customer.id, first[1].customer.id);
    assert_eq!(
        first[1].customer.customer_type,
        CustomerType::AutomaticallyCreated
    );
    let again = store
        .resolve_or_create_customers(&account, &wanted, at(6))
        .await
        .unwrap();
    assert!(again.iter().all(|r| !r.created));
    let ids: Vec<_> = again.iter().map(|r| r.customer.id.clone()).collect();
    let before: Vec<_> = first.iter().map(|r| r.customer.id.clone()).collect();
    assert_eq!(ids, before);
    let page = store
        .list_customers(&account, PageRequest { take: 100, skip: 0 })
        .await
        .unwrap();
    assert_eq!(page.total, 3);
}
