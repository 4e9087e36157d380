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
        changed_at: at(seq),
    }
}

fn change(state: ThresholdState, was_crossed: Option<bool>) -> ThresholdChange {
    let event_type = if state.crossed {
        WebhookEventType::UsageThresholdCrossed
    } else {
        WebhookEventType::UsageThresholdCleared
    };
    ThresholdChange {
        events: vec![NewWebhookEvent {
            id: WebhookEventId::random(),
            event_type,
            data: json!({"threshold": state.key, "usage": 123.45}),
            created_at: state.changed_at,
        }],
        state,
        was_crossed,
    }
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

/// A first state is inserted once; a move applies only from the state it
/// names and from a sequence at least the stored one; events are written
/// with the moves that apply and with nothing else.
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
        "a second first crossing does not apply"
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

    let stale = change(state(&customer, key, false, 4), Some(true));
    assert!(
        !store
            .change_threshold_state(&account, &stale)
            .await
            .unwrap(),
        "a move read at an older sequence is refused"
    );
    let wrong_from = change(state(&customer, key, false, 6), Some(false));
    assert!(
        !store
            .change_threshold_state(&account, &wrong_from)
            .await
            .unwrap()
    );
    let cleared = change(state(&customer, key, false, 6), Some(true));
    assert!(
        store
            .change_threshold_state(&account, &cleared)
            .await
            .unwrap()
    );
    assert!(
        store
            .customers_past_thresholds(&account, at(0))
            .await
            .unwrap()
            .is_empty()
    );

    // Racing evaluations of one crossing: exactly one applies.
    let racing = "feature:api_calls:80";
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, account) = (store.clone(), account.clone());
            let change = change(state(&customer, racing, true, 10 + n), None);
            tokio::spawn(async move { store.change_threshold_state(&account, &change).await })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        applied += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(applied, 1, "one of the racing crossings applies");
    assert_eq!(
        messages(store, &account).await,
        vec![
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
}
