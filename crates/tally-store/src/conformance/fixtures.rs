//! Builders for the suite's test data.

use std::sync::Arc;

use rust_decimal::Decimal;
use tally_event::{EventType, Record, Timestamp, record_from_stored_json};

use crate::catalog::{Account, Customer, CustomerType};
use crate::events::NewEvent;
use crate::ids::{AccountId, CustomerId, EventId};
use crate::traits::Store;

/// An instant, `ms` milliseconds after 2024-01-01T00:00:00Z.
pub fn at(ms: i64) -> Timestamp {
    const BASE: i64 = 1_704_067_200_000;
    Timestamp::from_millis(BASE + ms).unwrap()
}

/// A record from a JSON object of properties (scalars or arrays of scalars);
/// `id` is added from `id`.
pub fn record(id: &str, properties: serde_json::Value) -> Record {
    let mut object = match properties {
        serde_json::Value::Object(object) => object,
        other => panic!("fixture properties are an object, got {other}"),
    };
    object.insert("id".to_owned(), serde_json::Value::String(id.to_owned()));
    record_from_stored_json(&serde_json::Value::Object(object)).expect("a flat fixture record")
}

/// An event of `event_type` for `customer` with a fresh id.
pub fn event(
    event_type: &str,
    customer: &CustomerId,
    timestamp: Timestamp,
    record: Record,
) -> NewEvent {
    NewEvent {
        id: EventId::random(),
        event_type: EventType::parse(event_type).unwrap(),
        customer_id: customer.clone(),
        timestamp,
        record,
        ingested_at: timestamp,
    }
}

/// A fresh account with a unique name.
pub async fn new_account(store: &Arc<dyn Store>) -> AccountId {
    let id = AccountId::random();
    let account = Account {
        id: id.clone(),
        name: format!("account {id}"),
        settings: serde_json::json!({}),
        created_at: at(0),
    };
    store.create_account(&account).await.unwrap();
    id
}

/// A fresh corporate customer with external id `external_id`.
pub async fn new_customer(
    store: &Arc<dyn Store>,
    account: &AccountId,
    external_id: &str,
) -> CustomerId {
    let customer = Customer {
        id: CustomerId::random(),
        external_id: Some(external_id.to_owned()),
        name: Some(format!("customer {external_id}")),
        customer_type: CustomerType::Corporate,
        currency: Some("EUR".to_owned()),
        tax_rate: Some(Decimal::from(20)),
        created_at: at(0),
    };
    store.create_customer(account, &customer).await.unwrap().id
}
