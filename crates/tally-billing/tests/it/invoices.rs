//! Invoices from the hand-checked scenarios of `fixtures/invoices/`, and the
//! consumption explorer adding up to each of their lines.

use serde::Deserialize;
use serde_json::{Value, json};
use tally_billing::{ConsumptionQuery, InvoiceView, LineType, Pagination};

use crate::support::{Harness, at};

/// One `fixtures/invoices/*.json` file (its README-like `description` says
/// what was checked by hand).
#[derive(Debug, Deserialize)]
pub struct Scenario {
    #[allow(dead_code)]
    pub description: String,
    pub now: String,
    pub customer: Value,
    #[serde(default)]
    pub aggregators: serde_json::Map<String, Value>,
    /// Products; a usage product names its aggregator by key (`"aggregator"`)
    /// and a group its filter by name (`"filter"`).
    pub products: Vec<Value>,
    pub subscription: Value,
    #[serde(default)]
    pub events: Vec<Value>,
    /// The instant whose period is invoiced.
    pub at: String,
    pub expected: Expected,
}

#[derive(Debug, Deserialize)]
pub struct Expected {
    /// `[product, group or line type, quantity or null, excluding tax, tax, total]`.
    pub lines: Vec<(String, String, Option<String>, i64, i64, i64)>,
    /// `[excluding tax, tax, total]`.
    pub totals: (i64, i64, i64),
}

pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "graduated",
        include_str!("../../../../fixtures/invoices/graduated.json"),
    ),
    (
        "volume",
        include_str!("../../../../fixtures/invoices/volume.json"),
    ),
    (
        "package",
        include_str!("../../../../fixtures/invoices/package.json"),
    ),
    (
        "percentage",
        include_str!("../../../../fixtures/invoices/percentage.json"),
    ),
    (
        "bounds",
        include_str!("../../../../fixtures/invoices/bounds.json"),
    ),
    (
        "jpy",
        include_str!("../../../../fixtures/invoices/jpy.json"),
    ),
];

pub fn scenario(text: &str) -> Scenario {
    serde_json::from_str(text).unwrap()
}

/// Builds the scenario's catalog and events; returns the subscription id.
pub async fn build(s: &Scenario) -> (Harness, String) {
    let h = Harness::new(&s.now).await;
    let customer = h
        .billing
        .create_customer(
            &h.account,
            &serde_json::from_value(s.customer.clone()).unwrap(),
        )
        .await
        .unwrap();
    let mut aggregators = serde_json::Map::new();
    for (key, definition) in &s.aggregators {
        let entry = h.aggregator(definition.clone()).await;
        aggregators.insert(
            key.clone(),
            serde_json::to_value(&entry.definition).unwrap(),
        );
        aggregators[key]["id"] = json!(entry.id);
    }
    let mut product_ids = Vec::new();
    for body in &s.products {
        let product = h.product(resolve(body, &aggregators)).await;
        product_ids.push(product.id);
    }
    let mut subscription = s.subscription.clone();
    subscription["customer_id"] = json!(customer.id);
    subscription["product_ids"] = json!(product_ids);
    let subscription = h.subscription(subscription).await;
    let events: Vec<Value> = s
        .events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            event["customer_id"] = json!(customer.id);
            event
        })
        .collect();
    if !events.is_empty() {
        let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    }
    (h, subscription.id.to_string())
}

/// A product body with its aggregator key and filter names turned into ids
/// (a product input takes no other field).
fn resolve(body: &Value, aggregators: &serde_json::Map<String, Value>) -> Value {
    let mut body = body.clone();
    let Some(key) = body
        .as_object_mut()
        .and_then(|object| object.remove("aggregator"))
        .and_then(|key| key.as_str().map(str::to_owned))
    else {
        return body;
    };
    let aggregator = &aggregators[&key];
    body["aggregator_id"] = aggregator["id"].clone();
    for group in body["price_groups"].as_array_mut().unwrap() {
        let filter = group
            .as_object_mut()
            .and_then(|group| group.remove("filter"));
        if let Some(name) = filter.as_ref().and_then(Value::as_str) {
            let filter = aggregator["filters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
                .unwrap();
            group["aggregator_filter_id"] = filter["id"].clone();
        }
    }
    body
}

fn line_rows(invoice: &InvoiceView) -> Vec<(String, String, Option<String>, i64, i64, i64)> {
    invoice
        .lines
        .iter()
        .map(|line| {
            let what = match (&line.line_type, &line.price_group) {
                (LineType::Usage | LineType::Fee, Some(group)) => group.name.clone(),
                (other, _) => serde_json::to_value(other)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .into(),
            };
            (
                line.product_name.clone(),
                what,
                line.quantity.map(|q| q.to_string()),
                line.amount_excluding_tax,
                line.tax_amount,
                line.total_amount,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_scenario_invoices_as_checked_by_hand() {
    for (name, text) in SCENARIOS {
        let s = scenario(text);
        let (h, subscription) = build(&s).await;
        let invoice = h
            .billing
            .create_invoice(&h.account, &subscription, Some(at(&s.at)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(line_rows(&invoice), s.expected.lines, "{name}");
        let totals = &invoice.totals;
        assert_eq!(
            (
                totals.amount_excluding_tax,
                totals.tax_amount,
                totals.total_amount
            ),
            s.expected.totals,
            "{name}"
        );
        consumption_adds_up(&h, &invoice, name).await;
    }
}

/// Every usage line equals its group's walk: unattributed plus the amounts of
/// all its events, read page by page.
async fn consumption_adds_up(h: &Harness, invoice: &InvoiceView, name: &str) {
    let mut walked = Vec::new();
    let mut skip = 0;
    loop {
        let view = h
            .billing
            .invoice_consumption(&h.account, invoice.id.as_str(), Pagination::new(2, skip))
            .await
            .unwrap();
        let mut more = false;
        for (index, group) in view.products.iter().flat_map(|p| &p.groups).enumerate() {
            if walked.len() <= index {
                walked.push((
                    group.invoice_line_amount,
                    group.amount_excluding_tax,
                    group.unattributed,
                ));
            }
            walked[index].2 += group.events.iter().map(|e| e.amount).sum::<i64>();
            more |= group.skipped + group.taken < group.total;
        }
        if !more {
            break;
        }
        skip += 2;
    }
    for (line, subtotal, sum) in walked {
        assert_eq!(line, Some(subtotal), "{name}: line against walk");
        assert_eq!(sum, subtotal, "{name}: events against line");
    }
}

#[tokio::test]
async fn subscription_consumption_matches_the_invoice_period() {
    let s = scenario(SCENARIOS[0].1);
    let (h, subscription) = build(&s).await;
    h.set_now(&s.at);
    let view = h
        .billing
        .subscription_consumption(&h.account, &subscription, &ConsumptionQuery::default())
        .await
        .unwrap();
    let invoice = h
        .billing
        .create_invoice(&h.account, &subscription, None)
        .await
        .unwrap();
    assert_eq!(view.period, invoice.period);
    let amounts: Vec<i64> = view
        .products
        .iter()
        .flat_map(|p| &p.groups)
        .map(|g| g.amount_excluding_tax)
        .collect();
    let lines: Vec<i64> = invoice
        .lines
        .iter()
        .filter(|l| l.line_type == LineType::Usage)
        .map(|l| l.amount_excluding_tax)
        .collect();
    assert_eq!(amounts, lines);
    assert_eq!(view.events_changed_since_finalization, None);
}
