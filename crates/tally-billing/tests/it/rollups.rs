//! Usage served by rollups equals usage read from the raw events: the same
//! summaries, time series, simulations and invoice drafts, for every
//! operation, metered and licensed, after creates, updates that move events across hours and
//! customers, stale events and deletions.

use serde_json::{Value, json};
use tally_billing::{DateRange, RollupState, SimulateOptions, TimeSeriesQuery};

use crate::support::Harness;

const NOW: &str = "2024-12-28T00:00:00Z";

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

fn call(dice: &mut Dice) -> Value {
    let customer = format!("acme-{}", dice.roll(3));
    // Dec 1 to Dec 27, at any minute: periods, days and hours all get
    // some; a third in the hours that the windows read below clip.
    let minute = match dice.roll(6) {
        0 => (2 * 24 + 10) * 60 + dice.roll(60),
        1 => (4 * 24 + 6) * 60 + dice.roll(60),
        _ => dice.roll(27 * 24 * 60),
    };
    let timestamp = 1_733_011_200_000_u64 + minute * 60_000;
    let amount = match dice.roll(10) {
        0 => json!(null),
        1 => json!("n/a"),
        // Parsed from text: an exact decimal, as a sender's JSON number.
        n => serde_json::from_str(&format!("{}.{:02}", n * 7, dice.roll(100))).unwrap(),
    };
    let region = ["eu", "us"][dice.roll(2) as usize];
    json!({"event_type": "api_call", "customer_id": customer, "timestamp": timestamp,
           "record": {"id": dice.roll(400), "amount": amount, "region": region,
                      "user": format!("u{}", dice.roll(25))}})
}

fn definitions() -> Vec<Value> {
    let eu = json!({"property": "region", "operator": "equals", "value": "eu"});
    [
        json!({"operation": "count", "filters": [{"name": "eu", "where": eu}]}),
        json!({"operation": "sum", "property": "amount", "filters": [{"name": "eu", "where": eu}]}),
        json!({"operation": "max", "property": "amount"}),
        json!({"operation": "min", "property": "amount", "where": eu}),
        json!({"operation": "avg", "property": "amount"}),
        json!({"operation": "unique_count", "property": "user"}),
        json!({"operation": "latest", "property": "amount"}),
        json!({"operation": "formula", "formula": "sum(amount) * 2 + max(amount) - count(*)"}),
        // Licensed: each record is an entity, read as of the window's end.
        json!({"type": "licensed", "operation": "count", "filters": [{"name": "eu", "where": eu}]}),
        json!({"type": "licensed", "operation": "sum", "property": "amount"}),
        json!({"type": "licensed", "operation": "unique_count", "property": "user"}),
        json!({"type": "licensed", "operation": "formula",
               "formula": "sum(amount) - count(*) + avg(amount)"}),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, mut def)| {
        def["name"] = json!(format!("agg {i}"));
        def["event_type"] = json!("api_call");
        def
    })
    .collect()
}

/// Everything a customer or an operator reads, as text.
async fn answers(
    h: &Harness,
    aggregators: &[String],
    subscriptions: &[String],
    invoices: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let billing = &h.billing;
    for customer in ["acme-0", "acme-1", "acme-2"] {
        out.push(format!(
            "{:?}",
            billing.customer_usage(&h.account, customer).await
        ));
        for aggregator in aggregators {
            let range = DateRange {
                start_date: Some("2024-12-03T10:30:00Z".into()),
                end_date: Some("2024-12-20T17:00:00Z".into()),
            };
            let usage = billing
                .customer_aggregator_usage(&h.account, customer, aggregator, &range)
                .await;
            out.push(format!("{usage:?}"));
            for group_by in ["hour", "day"] {
                let query = TimeSeriesQuery {
                    range: DateRange {
                        start_date: Some("2024-12-05T06:15:00Z".into()),
                        end_date: Some("2024-12-09T00:00:00Z".into()),
                    },
                    group_by: Some(group_by.into()),
                    aggregator_filter_id: None,
                    customer_id: (customer != "acme-2").then(|| customer.to_owned()),
                };
                let series = billing
                    .aggregator_time_series(&h.account, aggregator, &query)
                    .await;
                out.push(format!("{series:?}"));
            }
        }
    }
    let mut dice = Dice(99);
    for _ in 0..12 {
        let simulated = billing
            .simulate_prices(&h.account, &call(&mut dice), &SimulateOptions::default())
            .await
            .map(|calculation| format!("{:?}", calculation.result));
        out.push(format!("{simulated:?}"));
    }
    for subscription in subscriptions {
        out.push(format!("{subscription} subscribed"));
    }
    for invoice in invoices {
        let draft = billing.get_invoice(&h.account, invoice).await.unwrap();
        out.push(format!("{:?} {:?}", draft.lines, draft.totals));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_is_the_same_from_rollups_and_from_events() {
    let h = Harness::new(NOW).await;
    let mut aggregators = Vec::new();
    let mut products = Vec::new();
    for definition in definitions() {
        let aggregator = h.aggregator(definition).await;
        let product = h
            .product(json!({"name": aggregator.definition.name, "type": "usage",
                "aggregator_id": aggregator.id, "currency": "EUR",
                "price_groups": [{"name": "all", "price": {"type": "graduated", "tiers": [
                    {"up_to": "100", "unit_amount": "3"}, {"up_to": null, "unit_amount": "1"}]}}]}))
            .await;
        aggregators.push(aggregator.id.to_string());
        products.push(product.id.to_string());
    }
    let mut subscriptions = Vec::new();
    for customer in ["acme-0", "acme-1", "acme-2"] {
        h.customer(customer, Some("20")).await;
        let subscription = h
            .subscription(json!({"customer_id": customer, "product_ids": products,
                "starts_at": "2024-12-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}))
            .await;
        subscriptions.push(subscription.id.to_string());
    }
    // Events before and after the backfill: both paths keep the rollups.
    let mut dice = Dice(7);
    for round in 0..4 {
        let batch: Vec<Value> = (0..150).map(|_| call(&mut dice)).collect();
        h.billing.ingest_batch(&h.account, &batch).await.unwrap();
        if round == 1 {
            h.billing.finish_backfills().await.unwrap();
        }
    }
    let deleted: Vec<tally_event::RecordId> = (0..40)
        .map(|i| tally_event::RecordId::from_integer(i * 7))
        .collect();
    let api_call = tally_event::EventType::parse("api_call").unwrap();
    h.billing
        .store()
        .delete_events(&h.account, &api_call, &deleted)
        .await
        .unwrap();
    h.billing.finish_backfills().await.unwrap();

    let mut invoices = Vec::new();
    for subscription in &subscriptions {
        let draft = h
            .billing
            .create_invoice(&h.account, subscription, None)
            .await
            .unwrap();
        invoices.push(draft.id.to_string());
    }
    for id in &aggregators {
        let entry = h.billing.get_aggregator(&h.account, id).await.unwrap();
        assert!(
            matches!(entry.rollup, RollupState::Ready { .. }),
            "{:?}",
            entry.rollup
        );
    }
    let from_rollups = answers(&h, &aggregators, &subscriptions, &invoices).await;
    // Without rollups, every read scans the events.
    h.billing
        .store()
        .retain_rollups(&h.account, &[])
        .await
        .unwrap();
    let entry = h
        .billing
        .get_aggregator(&h.account, &aggregators[0])
        .await
        .unwrap();
    assert_eq!(entry.rollup, RollupState::None);
    let from_events = answers(&h, &aggregators, &subscriptions, &invoices).await;
    assert_eq!(from_rollups.len(), from_events.len());
    for (served, scanned) in from_rollups.iter().zip(&from_events) {
        assert_eq!(served, scanned);
    }
    // The comparison compared something: quantities, not only errors.
    assert!(
        from_rollups.iter().any(|a| a.contains("quantity")),
        "{from_rollups:?}"
    );
}
