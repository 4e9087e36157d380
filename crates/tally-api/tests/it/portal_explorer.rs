//! The portal's consumption explorer, downloads and usage chart: what a link
//! shows adds up to the API's numbers, pages and filters change only the
//! rows shown, and nothing of another customer is reachable.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::portal::{app, assert_security_headers, cells, open, seed, session};
use crate::support::{Reply, TestApp};

fn euros(cents: i64) -> String {
    format!("{:.2} EUR", cents as f64 / 100.0)
}

async fn first_subscription(app: &TestApp, customer: &str) -> String {
    let path = format!("/v1/subscriptions?customer_id={customer}");
    let list = app.call(Method::GET, &path, None).await;
    list.json["data"][0]["id"].as_str().unwrap().to_owned()
}

/// The draft invoice of `subscription`'s current period, created through the API.
async fn draft(app: &TestApp, subscription: &str) -> Value {
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let invoice = app.call(Method::POST, &path, None).await;
    assert!(invoice.status.is_success(), "{}", invoice.text);
    invoice.json
}

async fn post_event(app: &TestApp, customer: &str, id: &str, at: &str, record: Value) {
    let mut record = record;
    record["id"] = json!(id);
    let event = app
        .call(
            Method::POST,
            "/v1/events",
            Some(json!({"customer_id": customer, "event_type": "api_call",
                        "timestamp": at, "record": record})),
        )
        .await;
    assert!(event.status.is_success(), "{}", event.text);
}

fn event_ids(page: &Reply) -> Vec<String> {
    page.text
        .split(" data-event=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// The `href` of the first link whose `rel` is `rel`, unescaped.
fn link(page: &Reply, rel: &str) -> Option<String> {
    let at = page.text.find(&format!("rel=\"{rel}\" href=\""))?;
    let rest = &page.text[at + rel.len() + 13..];
    Some(rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
}

#[tokio::test]
async fn an_invoice_page_adds_up_to_its_lines_and_the_apis_consumption() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 3)]).await;
    let subscription = first_subscription(&app, "acme").await;
    let invoice = draft(&app, &subscription).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let base = session(&app, "acme", None).await;

    let home = open(&app, &base).await;
    assert!(
        home.text
            .contains(&format!("href=\"{base}/invoices/{invoice_id}\"")),
        "the invoice number links to its page: {}",
        home.text
    );
    let page = open(&app, &format!("{base}/invoices/{invoice_id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_security_headers(&page);
    let line = invoice["line_items"][0]["amount_excluding_tax"]
        .as_i64()
        .unwrap();
    assert_eq!(cells(&page.text, "data-line-amount"), [euros(line)]);
    assert_eq!(cells(&page.text, "data-amount"), [euros(line)]);
    assert_eq!(cells(&page.text, "data-on-invoice"), [euros(line)]);
    assert_eq!(
        cells(&page.text, "data-invoice-total"),
        [euros(invoice["total_amount"].as_i64().unwrap())]
    );

    let api = app
        .call(
            Method::GET,
            &format!("/v1/invoices/{invoice_id}/consumption?take=100"),
            None,
        )
        .await;
    let group = &api.json["products"][0]["price_groups"][0];
    let api_ids: Vec<String> = group["events"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(event_ids(&page), api_ids);
    let amounts: Vec<String> = group["events"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| euros(event["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(cells(&page.text, "data-event-amount"), amounts);
    let on_events: i64 = group["events"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        on_events + group["unattributed"].as_i64().unwrap(),
        line,
        "the events and the unattributed part make the line"
    );
    assert_eq!(cells(&page.text, "data-events-amount"), [euros(on_events)]);
    assert_eq!(cells(&page.text, "data-event-count"), ["3"]);
}

#[tokio::test]
async fn the_explorer_pages_through_every_event_once() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 30)]).await;
    let subscription = first_subscription(&app, "acme").await;
    let base = session(&app, "acme", None).await;
    let first = open(&app, &format!("{base}/subscriptions/{subscription}")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(cells(&first.text, "data-range"), ["Events 1–25 of 30"]);
    assert!(link(&first, "prev").is_none());
    let next = link(&first, "next").expect("a next page");
    let second = open(&app, &next).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(cells(&second.text, "data-range"), ["Events 26–30 of 30"]);
    assert!(link(&second, "next").is_none());
    assert!(link(&second, "prev").is_some());

    let mut seen = event_ids(&first);
    seen.extend(event_ids(&second));
    let api = app
        .call(
            Method::GET,
            &format!("/v1/subscriptions/{subscription}/consumption?take=100"),
            None,
        )
        .await;
    let api_ids: Vec<String> = api.json["products"][0]["price_groups"][0]["events"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen, api_ids,
        "both pages together list the API's events, in order"
    );
    assert_eq!(seen.len(), 30);
}

#[tokio::test]
async fn dates_narrow_the_rows_not_their_amounts() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 0)]).await;
    for (id, at) in [
        ("a", "2024-12-03T10:00:00Z"),
        ("b", "2024-12-04T23:59:59Z"),
        ("c", "2024-12-05T00:00:00Z"),
        ("d", "2024-12-09T12:00:00Z"),
    ] {
        post_event(&app, "acme", id, at, json!({})).await;
    }
    let subscription = first_subscription(&app, "acme").await;
    let base = session(&app, "acme", None).await;
    let here = format!("{base}/subscriptions/{subscription}");
    let all = open(&app, &here).await;
    assert_eq!(event_ids(&all).len(), 4);

    let some = open(&app, &format!("{here}?from=2024-12-04&to=2024-12-05")).await;
    assert_eq!(some.status, StatusCode::OK, "{}", some.text);
    let names = cells(&some.text, "data-event-amount");
    assert_eq!(
        names,
        ["0.02 EUR", "0.02 EUR"],
        "b and c, each at its price"
    );
    assert!(
        some.text
            .contains("2 events in the dates chosen, billed 0.04 EUR"),
        "{}",
        some.text
    );
    // The group's own totals are the whole period's.
    assert_eq!(cells(&some.text, "data-amount"), ["0.08 EUR"]);

    for (query, path) in [
        ("from=2024-13-01", "/from"),
        ("to=yesterday", "/to"),
        ("from=2024-12-09&to=2024-12-01", "/to"),
        ("page=0", "/page"),
        ("product=itm_nothing", "/product"),
        ("group=nothing", "/group"),
    ] {
        let refused = open(&app, &format!("{here}?{query}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            refused.text.contains(&format!("<code>{path}</code>")),
            "{query}: {}",
            refused.text
        );
        assert_security_headers(&refused);
    }
}

#[tokio::test]
async fn downloads_are_the_apis_exports() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 4)]).await;
    let subscription = first_subscription(&app, "acme").await;
    let invoice = draft(&app, &subscription).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let product = invoice["line_items"][0]["product_id"].as_str().unwrap();
    let base = session(&app, "acme", None).await;
    let page = open(&app, &format!("{base}/invoices/{invoice_id}")).await;
    let zip_link = format!("{base}/invoices/{invoice_id}/events.zip");
    let csv_link = format!("{base}/invoices/{invoice_id}/products/{product}/events.csv");
    assert!(
        page.text.contains(&format!("href=\"{zip_link}\"")),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(&format!("href=\"{csv_link}\"")),
        "{}",
        page.text
    );

    let pairs = [
        (zip_link, format!("/v1/invoices/{invoice_id}/events.zip")),
        (
            csv_link,
            format!("/v1/invoices/{invoice_id}/products/{product}/events.csv"),
        ),
        (
            format!("{base}/subscriptions/{subscription}/products/{product}/events.csv"),
            format!("/v1/subscriptions/{subscription}/products/{product}/events.csv"),
        ),
    ];
    for (portal, api) in pairs {
        let mine = open(&app, &portal).await;
        let theirs = app.call(Method::GET, &api, None).await;
        assert_eq!(mine.status, StatusCode::OK, "{portal}: {}", mine.text);
        assert_eq!(theirs.status, StatusCode::OK, "{api}");
        assert!(!mine.bytes.is_empty());
        assert_eq!(mine.bytes, theirs.bytes, "{portal} serves {api}'s bytes");
        assert_eq!(
            mine.headers[header::CONTENT_DISPOSITION],
            theirs.headers[header::CONTENT_DISPOSITION]
        );
    }
}

#[tokio::test]
async fn another_customers_subscription_invoice_and_exports_are_not_found() {
    let app = app().await;
    seed(
        &app,
        &[("acme", "Acme Corp", 2), ("globex", "Globex Inc", 5)],
    )
    .await;
    let theirs = first_subscription(&app, "globex").await;
    let invoice = draft(&app, &theirs).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let product = invoice["line_items"][0]["product_id"].as_str().unwrap();
    let acme = session(&app, "acme", None).await;
    for path in [
        format!("{acme}/subscriptions/{theirs}"),
        format!("{acme}/invoices/{invoice_id}"),
        format!("{acme}/invoices/{invoice_id}/events.zip"),
        format!("{acme}/invoices/{invoice_id}/products/{product}/events.csv"),
        format!("{acme}/subscriptions/{theirs}/products/{product}/events.csv"),
        format!("{acme}/subscriptions/sub_nothing"),
        format!("{acme}/invoices/inv_nothing"),
    ] {
        let reply = open(&app, &path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert!(!reply.text.contains("Globex"), "{path}");
        assert!(!reply.text.contains("data-event"), "{path}");
        assert_security_headers(&reply);
    }
    // The same pages under a tampered token are refused before any lookup.
    let tampered = acme.replacen("/portal/", "/portal/x", 1);
    let refused = open(&app, &format!("{tampered}/invoices/{invoice_id}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn record_values_are_shown_as_text() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 0)]).await;
    post_event(
        &app,
        "acme",
        "x",
        "2024-12-03T00:00:00Z",
        json!({"note": "<script>alert(1)</script>"}),
    )
    .await;
    let subscription = first_subscription(&app, "acme").await;
    let base = session(&app, "acme", None).await;
    let page = open(&app, &format!("{base}/subscriptions/{subscription}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(
        page.text
            .contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>")
    );
    assert!(page.text.contains("<th scope=\"col\">note</th>"));
}

#[tokio::test]
async fn the_chart_draws_usage_so_far_with_thresholds_and_limits() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 0)]).await;
    let aggregators = app.call(Method::GET, "/v1/aggregators", None).await;
    let aggregator = aggregators.json["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/aggregators/{aggregator}"),
            Some(
                json!({"name": "Calls", "event_type": "api_call", "operation": "count",
                        "thresholds": [{"name": "Heads-up", "threshold_value": 2,
                                        "comparison_operator": "gte"}]}),
            ),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let feature = app
        .call(
            Method::POST,
            "/v1/features",
            Some(
                json!({"code": "calls", "name": "Calls", "value_type": "number",
                        "default_value": 10, "aggregator_id": aggregator,
                        "threshold_percents": [50, 100]}),
            ),
        )
        .await;
    assert_eq!(feature.status, StatusCode::CREATED, "{}", feature.text);
    for (id, at) in [
        ("a", "2024-12-02T08:00:00Z"),
        ("b", "2024-12-02T09:00:00Z"),
        ("c", "2024-12-20T09:00:00Z"),
    ] {
        post_event(&app, "acme", id, at, json!({})).await;
    }
    let page = open(&app, &session(&app, "acme", None).await).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let usage = app
        .call(Method::GET, "/v1/customers/acme/usage", None)
        .await;
    assert_eq!(
        cells(&page.text, "data-usage"),
        [usage.json[0]["total"].to_string()]
    );
    assert!(page.text.contains("<svg"), "{}", page.text);
    let marks: Vec<String> = page
        .text
        .split("data-mark=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect();
    assert_eq!(
        marks,
        ["2", "5", "10"],
        "threshold, 50 % of the limit, the limit"
    );
    assert!(page.text.contains("Calls limit: 10"));
    assert!(page.text.contains("50% of Calls limit: 5"));
    // One point per day of December so far (now is the 21st, midnight): the
    // 20 day ends and now, which is the 21st's start.
    let points = page
        .text
        .split("points=\"")
        .nth(1)
        .map(|rest| rest[..rest.find('"').unwrap()].split(' ').count())
        .unwrap();
    assert_eq!(points, 1 + 20, "the origin and one point per day ended");
}
