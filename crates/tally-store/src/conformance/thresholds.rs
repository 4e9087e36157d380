//! Usage thresholds' states: a compare-and-set that writes its webhook
//! events only when it applies, refuses a stale sequence, and lets exactly
//! one of many racing evaluations through.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;
use tally_event::Period;

use super::fixtures::{at, new_account, new_customer};
use crate::ids::{AccountId, CustomerId, WebhookEndpointId, WebhookEventId};
use crate::thresholds::{ThresholdChange, ThresholdState};
use crate::traits::Store;
use crate::versions::EventSeq;
use crate::webhooks::{MessageQuery, NewWebhookEvent, WebhookEndpoint, WebhookEventType};

fn state(customer: &CustomerId, key: &str, crossed: bool, seq: i64) -> ThresholdState {
    ThresholdState {
        customer_id: customer.clone(),
        key: key.to_owned(),
        period: Period::new(at(0), at(1_000_000)).unwrap(),
        crossed,
        usage: Decimal::new(12_345, 2),
        seq: EventSeq::new(seq).unwrap(),
        version: 0,
        changed_at: at(seq),
    }
}

fn change(state: ThresholdState, replaces: Option<u64>) -> ThresholdChange {
    let event_type = if state.crossed {
        WebhookEventType::UsageThresholdCrossed
    } else {
        WebhookEventType::UsageThresholdCleared
    };
    let events = vec![NewWebhookEvent {
        id: WebhookEventId::random(),
        event_type,
        data: json!({"threshold": state.key, "usage": 123.45}),
        created_at: state.changed_at,
    }];
    ThresholdChange::new(state, replaces, events)
}

/// The messages the account's one endpoint got, once every event is
/// dispatched (other checks' events may be dispatched along: harmless).
async fn messages(store: &Arc<dyn Store>, account: &AccountId) -> Vec<WebhookEventType> {
    while store
        .dispatch_webhook_events(at(2_000_000), 100)
        .await
        .unwrap()
        > 0
    {}
    let page = store
        .list_webhook_messages(account, &MessageQuery::default())
        .await
        .unwrap();
    let mut types: Vec<_> = page.items.iter().map(|m| m.event_type).collect();
    types.sort();
    types
}

/// A first state is inserted once; a move applies only from the version it
/// read; racing first states and racing moves apply once each; events are
/// written with the moves that apply and with nothing else; a deleted
/// customer's states go with it.
pub async fn threshold_states_compare_and_set(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::random(),
        description: None,
        url: "https://example.com/hooks".to_owned(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        event_types: WebhookEventType::ALL.to_vec(),
        created_at: at(0),
        updated_at: at(0),
    };
    store
        .create_webhook_endpoint(&account, &endpoint)
        .await
        .unwrap();
    let customer = new_customer(store, &account, "thresholds-1").await;
    let key = "aggregator:agg_x:gte:100";

    let crossed = change(state(&customer, key, true, 5), None);
    assert_eq!(crossed.state.version, 1);
    assert!(
        store
            .change_threshold_state(&account, &crossed)
            .await
            .unwrap()
    );
    assert!(
        !store
            .change_threshold_state(&account, &crossed)
            .await
            .unwrap(),
        "a second first state does not apply"
    );
    let stored = store
        .threshold_states(&account, &customer, at(0))
        .await
        .unwrap();
    assert_eq!(stored, vec![crossed.state.clone()]);
    assert_eq!(
        store
            .customers_past_thresholds(&account, at(999_999))
            .await
            .unwrap(),
        vec![customer.clone()]
    );
    assert!(
        store
            .customers_past_thresholds(&account, at(1_000_000))
            .await
            .unwrap()
            .is_empty(),
        "a period that has ended is not current"
    );
    assert!(
        store
            .threshold_states(&account, &customer, at(1_000_000))
            .await
            .unwrap()
            .is_empty()
    );

    let from_elsewhere = change(state(&customer, key, false, 6), Some(7));
    assert!(
        !store
            .change_threshold_state(&account, &from_elsewhere)
            .await
            .unwrap(),
        "a move from a version that is not stored is refused"
    );
    let cleared = change(state(&customer, key, false, 6), Some(1));
    assert!(
        store
            .change_threshold_state(&account, &cleared)
            .await
            .unwrap()
    );
    let stale = change(state(&customer, key, true, 7), Some(1));
    assert!(
        !store
            .change_threshold_state(&account, &stale)
            .await
            .unwrap(),
        "a move read before another one applied is refused"
    );
    assert!(
        store
            .customers_past_thresholds(&account, at(0))
            .await
            .unwrap()
            .is_empty()
    );

    // Racing moves of one state, and racing first states of another: one
    // of each applies.
    let racing = "feature:api_calls:80";
    let mut tasks = Vec::new();
    for n in 0..8 {
        let again = change(state(&customer, key, true, 10 + n), Some(2));
        let first = change(state(&customer, racing, true, 10 + n), None);
        for change in [again, first] {
            let (store, account) = (store.clone(), account.clone());
            tasks.push(tokio::spawn(async move {
                let key = change.state.key.clone();
                (key, store.change_threshold_state(&account, &change).await)
            }));
        }
    }
    let mut applied: Vec<String> = Vec::new();
    for task in tasks {
        let (key, outcome) = task.await.unwrap();
        if outcome.unwrap() {
            applied.push(key);
        }
    }
    applied.sort();
    assert_eq!(applied, [key, racing], "one move of each applies");
    assert_eq!(
        messages(store, &account).await,
        vec![
            WebhookEventType::UsageThresholdCrossed,
            WebhookEventType::UsageThresholdCrossed,
            WebhookEventType::UsageThresholdCrossed,
            WebhookEventType::UsageThresholdCleared,
        ],
        "events of the moves that applied, and only those"
    );

    let other = new_account(store).await;
    assert!(
        store
            .threshold_states(&other, &customer, at(0))
            .await
            .unwrap()
            .is_empty()
    );
    store.delete_customer(&account, &customer).await.unwrap();
    assert!(
        store
            .threshold_states(&account, &customer, at(0))
            .await
            .unwrap()
            .is_empty(),
        "a deleted customer's states go with it"
    );
}
