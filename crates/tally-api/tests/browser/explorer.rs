//! The consumption explorer, `/portal/{token}/subscriptions/{id}` and
//! `/portal/{token}/invoices/{id}`: its quantities and amounts are the
//! API's, and record values are shown as text.

use crate::harness::Harness;
use crate::seed::{self, cents, decimal};

#[tokio::test]
async fn a_period_shows_the_apis_usage_and_records_as_text() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (_, acme) = seed::acme(&h.app, "2024-12-01T00:00:00Z").await;
    seed::calls(&h.app, "acme", "2024-12-02T10:00:00Z", 3).await;

    let link = h.link("acme").await;
    h.open(&format!("{link}/subscriptions/{}", acme.subscription))
        .await;
    assert_eq!(h.status().await, 200);
    h.check_page("portal-explorer").await;

    let usage = seed::get(&h.app, "/v1/customers/acme/usage").await;
    assert_eq!(
        h.numbers("[data-quantity]").await,
        [decimal(&usage[0]["total"])]
    );
    assert_eq!(h.count("tr[data-event]").await, 3);
    // Each call's record has a `note` holding a script tag.
    let notes = h.texts("tr[data-event] td").await;
    let shown = notes
        .iter()
        .filter(|text| *text == "<script>alert(1)</script>");
    assert_eq!(shown.count(), 3, "{notes:?}");
    assert_eq!(h.count("body script").await, 0);
    assert!(!h.alert_open().await, "the page opened a dialog");
}

#[tokio::test]
async fn an_invoice_adds_up_to_the_apis_lines_and_consumption() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (_, acme) = seed::acme(&h.app, "2024-11-01T00:00:00Z").await;
    seed::calls(&h.app, "acme", "2024-11-10T09:30:00Z", 4).await;
    let invoice = seed::invoice(&h.app, &acme.subscription, "2024-11-15T00:00:00Z", true).await;
    let id = invoice["id"].as_str().unwrap();

    h.open(&format!("{}/invoices/{id}", h.link("acme").await))
        .await;
    assert_eq!(h.status().await, 200);
    h.check_page("portal-invoice").await;

    for line in invoice["line_items"].as_array().unwrap() {
        let row = format!(
            r#"tr[data-line-product="{}"]"#,
            line["product_id"].as_str().unwrap()
        );
        let amount = h.numbers(&format!("{row} [data-line-amount]")).await;
        assert_eq!(amount, [cents(&line["amount_excluding_tax"])]);
    }
    let total = h.numbers("[data-invoice-total]").await;
    assert_eq!(total, [cents(&invoice["total_amount"])]);

    let path = format!("/v1/invoices/{id}/consumption?take=100");
    let consumption = seed::get(&h.app, &path).await;
    let events = &consumption["products"][0]["price_groups"][0]["events"]["data"];
    let amounts: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| cents(&e["amount"]))
        .collect();
    assert_eq!(h.numbers("[data-event-amount]").await, amounts);
    assert_eq!(amounts.len(), 4);
}
