//! Tenant isolation: account B never sees, changes or deletes account A's rows,
//! through any method.

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::json;
use tally_event::{CustomerRef, EventType, RecordId, UpsertOutcome};

use super::catalog::{sample_aggregator, sample_invoice, sample_product, sample_subscription};
use super::fixtures::{at, event, new_account, new_customer, record};
use crate::catalog::{InvoiceQuery, InvoiceStatus, InvoiceUpdate, SubscriptionQuery};
use crate::error::StoreError;
use crate::events::{EventQuery, EventWindow};
use crate::ids::{AccountId, CustomerId};
use crate::keys::{ApiKey, ApiKeyHash};
use crate::page::PageRequest;
use crate::traits::Store;

fn hidden<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "{what} of another account must be not found, got {result:?}"
    );
}

/// Every read, update and delete of one account's objects from another account is `NotFound`,
/// and lists never show them.
pub async fn tenant_isolation(store: &Arc<dyn Store>) {
    let a = new_account(store).await;
    let b = new_account(store).await;
    let customer = new_customer(store, &a, "shared-ext").await;
    let e = event("calls", &customer, at(10), record("r1", json!({"n": 1})));
    store
        .upsert_events(&a, std::slice::from_ref(&e))
        .await
        .unwrap();
    events_are_isolated(store, &a, &b, &customer).await;
    customers_are_isolated(store, &a, &b, &customer).await;
    catalog_is_isolated(store, &a, &b, &customer).await;
}

async fn events_are_isolated(
    store: &Arc<dyn Store>,
    a: &AccountId,
    b: &AccountId,
    customer: &CustomerId,
) {
    let e = event("calls", customer, at(10), record("r1", json!({"n": 1})));
    hidden("event", store.get_event(b, &e.key()).await);
    let everything = EventQuery::default();
    assert_eq!(store.list_events(b, &everything).await.unwrap().total, 0);
    let calls = EventType::parse("calls").unwrap();
    let r1 = [RecordId::parse("r1").unwrap()];
    assert_eq!(store.delete_events(b, &calls, &r1).await.unwrap(), 0);
    assert_eq!(store.purge_events(b, &calls, &r1).await.unwrap(), 0);
    assert!(store.event_history(b, &e.key()).await.unwrap().is_empty());
    assert_eq!(
        store.latest_seq(b).await.unwrap(),
        crate::versions::EventSeq::ZERO
    );
    let old_news: Vec<_> = store
        .stream_events_as_of(
            b,
            None,
            &calls,
            EventWindow::Before(at(1_000)),
            crate::versions::AsOf::known_at(crate::versions::EventSeq::new(1).unwrap()),
        )
        .try_collect()
        .await
        .unwrap();
    assert!(
        old_news.is_empty(),
        "as of a past sequence, still nothing of A's"
    );
    assert_eq!(
        store.event_history(a, &e.key()).await.unwrap().len(),
        1,
        "A keeps its event"
    );
    let window = EventWindow::Before(at(1_000));
    let streamed: Vec<_> = store
        .stream_events(b, customer, &calls, window)
        .try_collect()
        .await
        .unwrap();
    assert!(streamed.is_empty(), "stream of another account");
    // The same key in B is a new event there, and A's stays as it was.
    let in_b = event("calls", customer, at(20), record("r1", json!({"n": 2})));
    let result = store.upsert_events(b, &[in_b]).await.unwrap();
    assert_eq!(result[0].outcome, UpsertOutcome::Created);
    let still = store.get_event(a, &e.key()).await.unwrap();
    assert_eq!((still.timestamp, still.record), (at(10), e.record));
    assert_eq!(store.list_events(a, &everything).await.unwrap().total, 1);
}

async fn customers_are_isolated(
    store: &Arc<dyn Store>,
    a: &AccountId,
    b: &AccountId,
    customer: &CustomerId,
) {
    hidden("customer", store.get_customer(b, customer).await);
    let by_id = CustomerRef::parse(customer.as_str()).unwrap();
    assert!(store.find_customer(b, &by_id).await.unwrap().is_none());
    let by_ext = CustomerRef::parse("shared-ext").unwrap();
    let resolved = store
        .resolve_or_create_customer(b, &by_ext, &CustomerId::random(), at(1))
        .await
        .unwrap();
    assert!(
        resolved.created,
        "B gets its own customer for A's external id"
    );
    assert_ne!(&resolved.customer.id, customer);
    let page = store
        .list_customers(b, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1, "B lists only its own customer");
    let mut theirs = store.get_customer(a, customer).await.unwrap();
    theirs.name = Some("taken over".into());
    hidden("customer update", store.update_customer(b, &theirs).await);
    hidden("customer delete", store.delete_customer(b, customer).await);
    assert_ne!(
        store.get_customer(a, customer).await.unwrap().name,
        theirs.name
    );
}

async fn catalog_is_isolated(
    store: &Arc<dyn Store>,
    a: &AccountId,
    b: &AccountId,
    customer: &CustomerId,
) {
    let aggregator = store
        .create_aggregator(a, &sample_aggregator())
        .await
        .unwrap();
    let product = store
        .create_product(a, &sample_product(&aggregator.id))
        .await
        .unwrap();
    let sub = sample_subscription(customer, &product.id);
    let sub = store.create_subscription(a, &sub).await.unwrap();
    let invoice = sample_invoice(customer, Some(&sub.id));
    let invoice = store.create_invoice(a, &invoice).await.unwrap();
    let page = PageRequest::default();

    hidden("aggregator", store.get_aggregator(b, &aggregator.id).await);
    hidden(
        "aggregator update",
        store.update_aggregator(b, &aggregator).await,
    );
    hidden(
        "aggregator delete",
        store.delete_aggregator(b, &aggregator.id).await,
    );
    assert_eq!(store.list_aggregators(b, page).await.unwrap().total, 0);
    let of_type = store
        .aggregators_for_event_type(b, &aggregator.event_type)
        .await;
    assert!(of_type.unwrap().is_empty());
    hidden("product", store.get_product(b, &product.id).await);
    hidden("product update", store.update_product(b, &product).await);
    hidden("product delete", store.delete_product(b, &product.id).await);
    assert_eq!(store.list_products(b, page).await.unwrap().total, 0);
    hidden("subscription", store.get_subscription(b, &sub.id).await);
    hidden(
        "subscription update",
        store.update_subscription(b, &sub).await,
    );
    hidden(
        "subscription delete",
        store.delete_subscription(b, &sub.id).await,
    );
    let subs = store
        .list_subscriptions(b, &SubscriptionQuery::default())
        .await;
    assert_eq!(subs.unwrap().total, 0);
    hidden("invoice", store.get_invoice(b, &invoice.id).await);
    let finalize = InvoiceUpdate {
        status: InvoiceStatus::Finalized,
        lines: json!([]),
        totals: json!({}),
        known_seq: None,
        basis: None,
        finalized_at: Some(at(1)),
    };
    hidden(
        "invoice update",
        store.update_invoice(b, &invoice.id, &finalize).await,
    );
    let invoices = store
        .list_invoices(b, &InvoiceQuery::default())
        .await
        .unwrap();
    assert_eq!(invoices.total, 0);
    let own = sample_invoice(customer, None);
    assert_eq!(
        store.create_invoice(b, &own).await.unwrap().number.0,
        1,
        "B's own sequence"
    );

    let key = ApiKey {
        id: crate::ids::ApiKeyId::random(),
        account_id: a.clone(),
        hash: ApiKeyHash::of_secret(&format!("secret of {a}")),
        created_at: at(1),
    };
    store.create_api_key(&key).await.unwrap();
    hidden("api key delete", store.delete_api_key(b, &key.id).await);
    assert!(
        !store
            .list_api_keys(b)
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == key.id),
        "B lists none of A's keys"
    );
    let found = store.find_api_key(&key.hash).await.unwrap();
    assert_eq!(
        found.map(|k| k.account_id),
        Some(a.clone()),
        "the key still opens A only"
    );
    // Everything of A is intact.
    assert_eq!(
        store.get_aggregator(a, &aggregator.id).await.unwrap(),
        aggregator
    );
    assert_eq!(store.get_product(a, &product.id).await.unwrap(), product);
    assert_eq!(store.get_subscription(a, &sub.id).await.unwrap(), sub);
    assert_eq!(store.get_invoice(a, &invoice.id).await.unwrap(), invoice);
}
