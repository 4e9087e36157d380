//! The customer's page, `GET /portal/{token}`, opened from the links the API
//! hands out: the numbers are the API's, refused links show nothing, one
//! customer never sees another, and names are text, never markup.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::json;
use tally_event::Timestamp;

use crate::harness::Harness;
use crate::seed::{self, Catalog, cents, decimal};
use crate::support::NOW;

#[tokio::test]
async fn the_page_shows_the_apis_numbers() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (Catalog { calls, fee, .. }, acme) = seed::acme(&h.app, "2024-11-01T00:00:00Z").await;
    seed::calls(&h.app, "acme", "2024-11-10T09:30:00Z", 40).await;
    seed::calls(&h.app, "acme", "2024-12-02T10:00:00Z", 3).await;
    seed::calls(&h.app, "acme", "2024-12-20T16:45:00Z", 5).await;
    seed::invoice(&h.app, &acme.subscription, "2024-11-15T00:00:00Z", true).await;

    h.open(&h.link("acme").await).await;
    assert_eq!(h.status().await, 200);
    assert_eq!(h.text_of("h1").await, "Acme Corp");
    h.check_page("portal-home").await;

    // The period so far: the usage the API reports.
    let usage = seed::get(&h.app, "/v1/customers/acme/usage").await;
    let row = |product: &str, cell: &str| format!(r#"tr[data-product="{product}"] {cell}"#);
    assert_eq!(
        h.numbers(&row(&calls, "[data-quantity]")).await,
        [decimal(&usage[0]["total"])]
    );
    assert_eq!(usage[0]["total"], 8, "{usage}");

    // Past invoices: the API's list, in its order.
    let listed = seed::get(&h.app, &format!("/v1/invoices?customer_id={}", acme.id)).await;
    let listed = listed["data"].as_array().unwrap();
    let numbers: Vec<&str> = listed
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    let totals: Vec<Decimal> = listed.iter().map(|i| cents(&i["total_amount"])).collect();
    assert_eq!(h.texts("[data-number]").await, numbers);
    assert_eq!(h.numbers("[data-invoice-total]").await, totals);
    assert_eq!(numbers, ["INV-1"]);

    // The amounts so far are the draft's the API computes for this period.
    let amounts = [
        h.numbers(&row(&calls, "[data-amount]")).await,
        h.numbers(&row(&fee, "[data-amount]")).await,
    ];
    let total = h.numbers("[data-total]").await;
    let draft = seed::invoice(&h.app, &acme.subscription, NOW, false).await;
    let line = |product: &str| {
        let lines = draft["line_items"].as_array().unwrap();
        let line = lines.iter().find(|line| line["product_id"] == product);
        vec![cents(&line.unwrap()["amount_excluding_tax"])]
    };
    assert_eq!(amounts, [line(&calls), line(&fee)]);
    assert_eq!(total, [cents(&draft["total_amount"])]);
    assert_eq!(total, [Decimal::from_str("34.99").unwrap()], "{draft}");
}

#[tokio::test]
async fn expired_and_altered_links_show_no_data() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let Catalog { calls, .. } = seed::catalog(&h.app).await;
    seed::customer(
        &h.app,
        ("acme", "Acme Corp"),
        &[&calls],
        "2024-12-01T00:00:00Z",
    )
    .await;
    seed::calls(&h.app, "acme", "2024-12-02T10:00:00Z", 3).await;
    let link = h.link("acme").await;
    h.open(&link).await;
    assert_eq!(h.status().await, 200);

    // A link lasts an hour by default.
    let now = Timestamp::parse(NOW).unwrap();
    let later = Timestamp::from_millis(now.as_millis() + 3_600_000).unwrap();
    h.app.clock.set(later);
    h.open(&link).await;
    assert_refused(&h, "expired").await;
    h.app.clock.set(now);

    let last = link.chars().last().unwrap();
    let altered = format!(
        "{}{}",
        &link[..link.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    h.open(&altered).await;
    assert_refused(&h, "altered").await;
    h.check_page("portal-refused").await;

    h.open(&link).await;
    assert_eq!(h.status().await, 200, "the link itself still opens");
}

#[tokio::test]
async fn a_link_shows_its_customer_only() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let Catalog { calls, .. } = seed::catalog(&h.app).await;
    for (customer, calls_made) in [(("acme", "Acme Corp"), 3), (("globex", "Globex Inc"), 7)] {
        seed::customer(&h.app, customer, &[&calls], "2024-12-01T00:00:00Z").await;
        seed::calls(&h.app, customer.0, "2024-12-02T10:00:00Z", calls_made).await;
    }
    for (customer, name, other, quantity, amount) in [
        ("acme", "Acme Corp", "Globex", 3, "0.06"),
        ("globex", "Globex Inc", "Acme", 7, "0.14"),
    ] {
        h.open(&h.link(customer).await).await;
        assert_eq!(h.text_of("h1").await, name);
        assert_eq!(
            h.numbers("[data-quantity]").await,
            [Decimal::from(quantity)]
        );
        let amount = Decimal::from_str(amount).unwrap();
        assert_eq!(h.numbers("[data-amount]").await, [amount]);
        let body = h.text_of("body").await;
        assert!(
            !body.contains(other),
            "{customer}'s page shows {other}: {body}"
        );
    }
}

#[tokio::test]
async fn names_are_shown_as_text_and_nothing_runs() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let script = "<script>alert(1)</script>";
    let image = "<img src=x onerror=alert(2)>";
    let Catalog { aggregator, .. } = seed::catalog(&h.app).await;
    let named = seed::product(&h.app, image, &aggregator).await;
    seed::customer(&h.app, ("x", script), &[&named], "2024-12-01T00:00:00Z").await;
    seed::calls(&h.app, "x", "2024-12-02T10:00:00Z", 1).await;

    h.open(&h.link("x").await).await;
    assert_eq!(h.text_of("h1").await, script);
    assert!(h.text_of("tbody tr").await.contains(image));
    assert_eq!(h.count("body script, body img").await, 0);
    assert!(!h.alert_open().await, "the page opened a dialog");

    // The check above would see a dialog: open one on purpose.
    h.execute("setTimeout(() => alert('probe'))").await;
    let mut seen = false;
    for _ in 0..50 {
        seen = h.alert_open().await;
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "a dialog opened on purpose is not seen");
    h.dismiss_alert().await;
}

#[tokio::test]
async fn large_numbers_and_long_names_on_a_phone() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let seconds = seed::aggregator(
        &h.app,
        json!({"name": "Seconds", "event_type": "transcription", "operation": "sum",
               "property": "seconds"}),
    )
    .await;
    let name = "Transcription seconds (speaker diarization, custom vocabulary)";
    let product = seed::product(&h.app, name, &seconds).await;
    let customer = ("intl", "Internationale Transkriptionsgesellschaft mbH");
    seed::customer(&h.app, customer, &[&product], "2024-12-01T00:00:00Z").await;
    let event = json!({"customer_id": "intl", "event_type": "transcription",
                       "timestamp": "2024-12-02T10:00:00Z",
                       "record": {"id": "t-1", "seconds": 123456789.5}});
    seed::events(&h.app, vec![event]).await;

    h.open(&h.link("intl").await).await;
    let quantity = Decimal::from_str("123456789.5").unwrap();
    assert_eq!(h.numbers("[data-quantity]").await, [quantity]);
    h.check_page("portal-large").await;
}

#[tokio::test]
async fn a_customer_without_subscriptions_or_invoices() {
    let Some(h) = Harness::start().await else {
        return;
    };
    seed::bare_customer(&h.app, ("new", "New Customer")).await;
    h.open(&h.link("new").await).await;
    assert_eq!(
        h.texts(".empty").await,
        ["No subscription.", "No invoice yet."]
    );
    h.check_page("portal-empty").await;
}

#[tokio::test]
async fn the_accessibility_check_sees_violations() {
    let Some(h) = Harness::start().await else {
        return;
    };
    seed::bare_customer(&h.app, ("new", "New Customer")).await;
    h.open(&h.link("new").await).await;
    assert!(h.accessibility().await.is_clean());
    // An image without a text alternative and a button without a name.
    h.execute(
        r#"document.querySelector("main").insertAdjacentHTML("beforeend",
           '<img src="/portal/assets/none.png"><button></button>')"#,
    )
    .await;
    let outcome = h.accessibility().await;
    assert_eq!(outcome.rules(), ["button-name", "image-alt"], "{outcome}");
}

async fn assert_refused(h: &Harness, what: &str) {
    assert_eq!(h.status().await, 403, "{what}");
    assert_eq!(h.text_of("h1").await, "Link not valid", "{what}");
    assert_eq!(h.count("[data-quantity], [data-amount], table").await, 0);
    let body = h.text_of("body").await;
    assert!(!body.contains("Acme"), "{what}: {body}");
}
