//! A finalized invoice is explained forever: its consumption, CSV and ZIP add
//! up to its lines whatever happens later (late events, upserts, deletions,
//! price and aggregator edits), and what changed since is listed, priced
//! with the invoice's own prices. Licensed counts are read as of the period
//! end, so a seat deleted afterwards changes no past period.

use std::io::Read;

use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp};

/// A's catalog: payments priced at 2.5 % of `amount`, calls at 2 cents each;
/// one subscription from December 2024 on both.
struct Seeded {
    subscription: String,
    payments: String,
    payments_group: String,
    calls: String,
    calls_aggregator: String,
}

async fn post(app: &TestApp, path: &str, body: Value) -> Reply {
    let reply = app.call(Method::POST, path, Some(body)).await;
    assert!(reply.status.is_success(), "POST {path}: {}", reply.text);
    reply
}

fn id(reply: &Reply) -> String {
    reply.json["id"].as_str().unwrap().to_owned()
}

async fn seed(app: &TestApp) -> Seeded {
    post(app, "/v1/customers", json!({"external_id": "acme-42"})).await;
    let payment_sum = post(
        app,
        "/v1/aggregators",
        json!({"name": "Payments", "event_type": "payment", "operation": "sum",
               "property": "amount"}),
    )
    .await;
    let payments = post(
        app,
        "/v1/products",
        json!({"name": "Payment fees", "type": "usage", "aggregator_id": payment_sum.json["id"],
               "currency": "EUR", "price_groups": [{"name": "fees",
               "price": {"type": "percentage", "rate": "2.5", "property": "amount"}}]}),
    )
    .await;
    let call_count = post(
        app,
        "/v1/aggregators",
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
    )
    .await;
    let calls = post(
        app,
        "/v1/products",
        json!({"name": "Calls", "type": "usage", "aggregator_id": call_count.json["id"],
               "currency": "EUR", "price_groups": [{"name": "calls",
               "price": {"type": "per_unit", "unit_amount": "2"}}]}),
    )
    .await;
    let subscription = post(
        app,
        "/v1/subscriptions",
        json!({"customer_id": "acme-42", "product_ids": [payments.json["id"], calls.json["id"]],
               "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
               "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    let mut events = Vec::new();
    for (n, amount) in [(1, "86520"), (2, "0.40"), (3, "1200")] {
        events.push(json!({"customer_id": "acme-42", "event_type": "payment",
            "timestamp": format!("2024-12-0{n}T10:00:00Z"),
            "record": {"id": format!("pay-{n}"), "amount": amount.parse::<f64>().unwrap()}}));
    }
    for n in 1..=3 {
        events.push(json!({"customer_id": "acme-42", "event_type": "api_call",
            "timestamp": format!("2024-12-0{n}T12:00:00Z"), "record": {"id": format!("call-{n}")}}));
    }
    let batch = app
        .call(Method::POST, "/v1/events/batch", Some(json!(events)))
        .await;
    assert_eq!(batch.status, StatusCode::ACCEPTED, "{}", batch.text);
    Seeded {
        subscription: id(&subscription),
        payments_group: payments.json["price_groups"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        payments: id(&payments),
        calls: id(&calls),
        calls_aggregator: id(&call_count),
    }
}

/// Creates and finalizes the subscription's December invoice; returns it.
async fn finalized_invoice(app: &TestApp, subscription: &str) -> Value {
    let draft = post(
        app,
        &format!("/v1/subscriptions/{subscription}/invoices"),
        json!({"at": "2024-12-15T00:00:00Z"}),
    )
    .await;
    let finalized = post(
        app,
        &format!(
            "/v1/invoices/{}/finalize",
            draft.json["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(finalized.json["status"], "finalized");
    assert!(finalized.json["known_seq"].as_i64().unwrap() > 0);
    finalized.json
}

async fn get(app: &TestApp, path: &str) -> Reply {
    let reply = app.call(Method::GET, path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text);
    reply
}

/// Each line's `amount_excluding_tax`, by (product id, price group id).
fn line_amounts(invoice: &Value) -> Vec<(String, Option<String>, i64)> {
    invoice["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["product_id"].as_str().unwrap().to_owned(),
                line["price_group"]["id"].as_str().map(str::to_owned),
                line["amount_excluding_tax"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The `amount` column of a CSV, summed, in cents.
fn csv_cents(text: &str) -> i64 {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let total: Decimal = lines
        .map(|line| {
            line.split(',')
                .nth(amount)
                .unwrap()
                .parse::<Decimal>()
                .unwrap()
        })
        .sum();
    i64::try_from(total * Decimal::from(100)).unwrap()
}

/// Everything that explains the invoice adds up to its lines: the
/// consumption view per group, each product's CSV, and the ZIP's CSVs.
async fn assert_explained(app: &TestApp, invoice: &Value) {
    let id = invoice["id"].as_str().unwrap();
    let consumption = get(app, &format!("/v1/invoices/{id}/consumption")).await;
    let mut zip_total = 0;
    let zip = get(app, &format!("/v1/invoices/{id}/events.zip")).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes)).unwrap();
    for index in 0..archive.len() {
        let mut text = String::new();
        archive
            .by_index(index)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        zip_total += csv_cents(&text);
    }
    let mut lines_total = 0;
    for (product, group, amount) in line_amounts(invoice) {
        lines_total += amount;
        let view = consumption.json["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["product_id"] == product.as_str())
            .unwrap();
        let group_view = view["price_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"].as_str() == group.as_deref())
            .unwrap();
        assert_eq!(group_view["amount_excluding_tax"], amount, "{product}");
        assert_eq!(group_view["invoice_line_amount"], amount, "{product}");
        let csv = get(
            app,
            &format!("/v1/invoices/{id}/products/{product}/events.csv"),
        )
        .await;
        assert_eq!(csv_cents(&csv.text), amount, "{product}: {}", csv.text);
    }
    assert_eq!(zip_total, lines_total, "the ZIP adds up to the invoice");
}

async fn changes(app: &TestApp, invoice: &Value) -> Value {
    let id = invoice["id"].as_str().unwrap();
    get(app, &format!("/v1/invoices/{id}/changes")).await.json
}

async fn changed_flag(app: &TestApp, invoice: &Value) -> Value {
    let id = invoice["id"].as_str().unwrap();
    get(app, &format!("/v1/invoices/{id}/consumption"))
        .await
        .json["events_changed_since_finalization"]
        .clone()
}

#[tokio::test]
async fn a_price_edit_after_finalization_changes_nothing_the_invoice_explains() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let invoice = finalized_invoice(&app, &s.subscription).await;
    // 2.5 % of 86 520 + 0.40 + 1 200 = 2 193.01 → 2 193; calls 3 × 2.
    assert_eq!(line_amounts(&invoice)[0].2, 2193);
    assert_eq!(line_amounts(&invoice)[1].2, 6);
    assert_explained(&app, &invoice).await;

    let product = get(&app, &format!("/v1/products/{}", s.payments))
        .await
        .json;
    let mut edited = product.clone();
    edited["price_groups"][0]["price"]["rate"] = json!("2.7");
    for field in ["id", "created_at", "price_versions"] {
        edited.as_object_mut().unwrap().remove(field);
    }
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}", s.payments),
            Some(edited),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.json["price_groups"][0]["id"], s.payments_group.as_str());

    assert_explained(&app, &invoice).await;
    assert_eq!(changed_flag(&app, &invoice).await, json!(false));
    let changes = changes(&app, &invoice).await;
    assert_eq!(changes["total"], 0);
    assert_eq!(changes["amount_excluding_tax"]["delta"], 0, "{changes}");
}

#[tokio::test]
async fn late_events_upserts_and_deletions_are_listed_not_billed() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let invoice = finalized_invoice(&app, &s.subscription).await;
    assert_eq!(changed_flag(&app, &invoice).await, json!(false));
    assert_eq!(changes(&app, &invoice).await["total"], 0);

    // A late call, an update of a payment, a deleted call, and an update
    // identical to what is stored (unchanged: not a change).
    post(
        &app,
        "/v1/events",
        json!({"customer_id": "acme-42", "event_type": "api_call",
               "timestamp": "2024-12-20T12:00:00Z", "record": {"id": "call-late"}}),
    )
    .await;
    post(
        &app,
        "/v1/events",
        json!({"customer_id": "acme-42", "event_type": "payment",
               "timestamp": "2024-12-03T10:00:00Z", "record": {"id": "pay-3", "amount": 2400}}),
    )
    .await;
    post(
        &app,
        "/v1/events",
        json!({"customer_id": "acme-42", "event_type": "api_call",
               "timestamp": "2024-12-01T12:00:00Z", "record": {"id": "call-1"}}),
    )
    .await;
    let deleted = app
        .call(
            Method::DELETE,
            "/v1/events",
            Some(json!({"matching": "record_ids", "event_type": "api_call", "record_ids": ["call-2"]})),
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text);

    assert_explained(&app, &invoice).await;
    assert_eq!(changed_flag(&app, &invoice).await, json!(true));
    let changes = changes(&app, &invoice).await;
    assert_eq!(
        (&changes["added"], &changes["changed"], &changes["deleted"]),
        (&json!(1), &json!(1), &json!(1)),
        "{changes:#}"
    );
    let listed: Vec<(String, String)> = changes["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().to_owned(),
                c["record_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("changed".to_owned(), "pay-3".to_owned()),
            ("deleted".to_owned(), "call-2".to_owned()),
            ("added".to_owned(), "call-late".to_owned()),
        ]
    );
    let changed = &changes["events"][0];
    assert_eq!(changed["before"]["record"]["amount"], 1200);
    assert_eq!(changed["after"]["record"]["amount"], 2400);
    assert_eq!(changed["product_ids"], json!([s.payments]));
    // Payments: 2.5 % of 88 920.40 = 2 223.01 → 2 223 (+30); calls: still 3 (+0).
    let deltas: Vec<(String, i64, i64, i64)> = changes["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_str().unwrap().to_owned(),
                l["finalized_amount"].as_i64().unwrap(),
                l["current_amount"].as_i64().unwrap(),
                l["delta"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        deltas,
        [
            (s.payments.clone(), 2193, 2223, 30),
            (s.calls.clone(), 6, 6, 0),
        ]
    );
    assert_eq!(changes["amount_excluding_tax"]["delta"], 30);
    // The invoice itself never moves.
    let read = get(
        &app,
        &format!("/v1/invoices/{}", invoice["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read.json["line_items"], invoice["line_items"]);
}

#[tokio::test]
async fn an_aggregator_edit_after_finalization_changes_nothing_the_invoice_explains() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let invoice = finalized_invoice(&app, &s.subscription).await;
    // From now on only calls with `billable = true` count: none of December's.
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/aggregators/{}", s.calls_aggregator),
            Some(
                json!({"name": "Calls", "event_type": "api_call", "operation": "count",
                "where": {"conditional": "and", "fields": [
                    {"property": "billable", "operator": "equals", "value": true}]}}),
            ),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_explained(&app, &invoice).await;
    let changes = changes(&app, &invoice).await;
    assert_eq!(changes["total"], 0);
    assert_eq!(changes["amount_excluding_tax"]["delta"], 0);
}

#[tokio::test]
async fn changes_of_a_draft_are_a_409() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let draft = post(
        &app,
        &format!("/v1/subscriptions/{}/invoices", s.subscription),
        json!({"at": "2024-12-15T00:00:00Z"}),
    )
    .await;
    let reply = app
        .call(
            Method::GET,
            &format!(
                "/v1/invoices/{}/changes",
                draft.json["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
}

/// Seats at 15 EUR, counted while `deleted_at` is null, three of them from
/// November 2024; returns (subscription id, aggregator id).
async fn seats(app: &TestApp) -> (String, String) {
    post(app, "/v1/customers", json!({"external_id": "acme-42"})).await;
    let seats = post(
        app,
        "/v1/aggregators",
        json!({"name": "Seats", "event_type": "seat", "operation": "count",
               "type": "licensed", "where": {"conditional": "and", "fields": [
                   {"property": "deleted_at", "operator": "is_null"}]}}),
    )
    .await;
    let product = post(
        app,
        "/v1/products",
        json!({"name": "Seats", "type": "usage", "aggregator_id": seats.json["id"],
               "currency": "EUR", "price_groups": [{"name": "seats",
               "price": {"type": "per_unit", "unit_amount": "1500"}}]}),
    )
    .await;
    let subscription = post(
        app,
        "/v1/subscriptions",
        json!({"customer_id": "acme-42", "product_ids": [product.json["id"]],
               "starts_at": "2024-11-01T00:00:00Z", "currency": "EUR",
               "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    for n in 1..=3 {
        post(
            app,
            "/v1/events",
            json!({"customer_id": "acme-42", "event_type": "seat",
                   "timestamp": format!("2024-11-0{n}T09:00:00Z"),
                   "record": {"id": format!("seat-{n}"), "deleted_at": null}}),
        )
        .await;
    }
    (id(&subscription), id(&seats))
}

/// A seat soft-deleted on December 2 (a new version with `deleted_at`)
/// changes no November count.
#[tokio::test]
async fn a_seat_deleted_after_the_period_changes_no_past_period() {
    let app = TestApp::new().await;
    let (subscription, seats) = seats(&app).await;
    let november = post(
        &app,
        &format!("/v1/subscriptions/{subscription}/invoices"),
        json!({"at": "2024-11-15T00:00:00Z"}),
    )
    .await;
    assert_eq!(november.json["line_items"][0]["quantity"], 3);
    let usage_path = format!(
        "/v1/customers/acme-42/usage/{seats}?start_date=2024-11-01T00:00:00Z&end_date=2024-12-01T00:00:00Z"
    );
    assert_eq!(get(&app, &usage_path).await.json["total"], 3);
    let series_path = format!(
        "/v1/aggregators/{seats}/usage/timeseries?start_date=2024-11-01T00:00:00Z&end_date=2024-12-01T00:00:00Z&group_by=day"
    );
    let series_before = get(&app, &series_path).await.json;

    post(
        &app,
        "/v1/events",
        json!({"customer_id": "acme-42", "event_type": "seat",
               "timestamp": "2024-12-02T09:00:00Z",
               "record": {"id": "seat-1", "deleted_at": "2024-12-02T09:00:00Z"}}),
    )
    .await;

    // November, read after the deletion: still three seats, in the draft,
    // the usage and every day of the series.
    let read = get(&app, &format!("/v1/invoices/{}", id(&november))).await;
    assert_eq!(read.json["line_items"][0]["quantity"], 3);
    assert_eq!(read.json["line_items"][0]["amount_excluding_tax"], 4500);
    assert_eq!(get(&app, &usage_path).await.json["total"], 3);
    assert_eq!(get(&app, &series_path).await.json, series_before);
    // December counts two.
    let december = post(
        &app,
        &format!("/v1/subscriptions/{subscription}/invoices"),
        json!({"at": "2024-12-15T00:00:00Z"}),
    )
    .await;
    assert_eq!(december.json["line_items"][0]["quantity"], 2);
    let explained = get(&app, &format!("/v1/invoices/{}/consumption", id(&november))).await;
    let group = &explained.json["products"][0]["price_groups"][0];
    assert_eq!(group["quantity"], 3);
    assert_eq!(group["amount_excluding_tax"], 4500);
}

/// The amounts of a simulation: (period start, amount excluding tax).
fn simulated(reply: &Reply) -> Vec<(String, i64)> {
    reply.json["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["period_start"].as_str().unwrap().to_owned(),
                line["amount_excluding_tax"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn simulate(app: &TestApp, event: Value) -> Vec<(String, i64)> {
    let reply = app
        .call(Method::POST, "/v1/events/simulate-prices", Some(event))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    simulated(&reply)
}

#[tokio::test]
async fn a_simulation_prices_the_change_an_event_makes() {
    let app = TestApp::new().await;
    seats(&app).await;
    let november = "2024-11-01T00:00:00.000Z".to_owned();
    let seat = |id: &str, at: &str, deleted_at: Value| {
        json!({"customer_id": "acme-42", "event_type": "seat", "timestamp": at,
               "record": {"id": id, "deleted_at": deleted_at}})
    };
    // A new seat: 1 500; the same seat sent again: 0.
    let new_seat = seat("seat-4", "2024-11-20T09:00:00Z", Value::Null);
    assert_eq!(simulate(&app, new_seat).await, [(november.clone(), 1500)]);
    let same = seat("seat-1", "2024-11-01T09:00:00Z", Value::Null);
    assert_eq!(simulate(&app, same).await, [(november.clone(), 0)]);
    // Its soft deletion: −1 500; nothing was stored by simulating.
    let deletion = seat(
        "seat-1",
        "2024-11-20T09:00:00Z",
        json!("2024-11-20T09:00:00Z"),
    );
    assert_eq!(
        simulate(&app, deletion.clone()).await,
        [(november.clone(), -1500)]
    );
    let history = get(&app, "/v1/events/history?event_type=seat&record_id=seat-1").await;
    assert_eq!(history.json["data"].as_array().unwrap().len(), 1);
    // Stored and priced in one call: the same change.
    let priced = app
        .call(Method::POST, "/v1/events/prices", Some(deletion))
        .await;
    assert_eq!(priced.status, StatusCode::ACCEPTED, "{}", priced.text);
    assert_eq!(simulated(&priced), [(november.clone(), -1500)]);
    assert_eq!(priced.json["event"]["outcome"], "updated");
}

#[tokio::test]
async fn an_update_moving_a_metered_event_prices_both_periods() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    // A weekly customer of the calls product, with one call on Dec 2.
    post(&app, "/v1/customers", json!({"external_id": "weekly"})).await;
    post(
        &app,
        "/v1/subscriptions",
        json!({"customer_id": "weekly", "product_ids": [s.calls],
               "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
               "billing_interval": {"period": "weeks", "count": 1}}),
    )
    .await;
    let call = |at: &str| {
        json!({"customer_id": "weekly", "event_type": "api_call", "timestamp": at,
               "record": {"id": "weekly-call"}})
    };
    post(&app, "/v1/events", call("2024-12-02T12:00:00Z")).await;
    // Moved to Dec 10: the week of Dec 8 gains 2 cents, the week of Dec 1 loses them.
    assert_eq!(
        simulate(&app, call("2024-12-10T12:00:00Z")).await,
        [
            ("2024-12-08T00:00:00.000Z".to_owned(), 2),
            ("2024-12-01T00:00:00.000Z".to_owned(), -2),
        ]
    );
}

#[tokio::test]
async fn a_stale_event_changes_no_metered_amount() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let newer = json!({"customer_id": "acme-42", "event_type": "payment",
        "timestamp": "2024-12-10T10:00:00Z", "record": {"id": "pay-1", "amount": 100}});
    post(&app, "/v1/events", newer).await;
    // Older than the stored version: kept as history, billed nothing.
    let older = json!({"customer_id": "acme-42", "event_type": "payment",
        "timestamp": "2024-12-05T10:00:00Z", "record": {"id": "pay-1", "amount": 5000}});
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/events/simulate-prices?product_id={}", s.payments),
            Some(older),
        )
        .await;
    assert_eq!(
        simulated(&reply),
        [("2024-12-01T00:00:00.000Z".to_owned(), 0)]
    );
}

#[tokio::test]
async fn a_value_that_cannot_be_billed_is_never_silent() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    // A payment whose amount is a string: accepted, with a warning naming
    // the aggregator that will skip it.
    let text_amount = app
        .call(
            Method::POST,
            "/v1/events",
            Some(json!({"customer_id": "acme-42", "event_type": "payment",
                "timestamp": "2024-12-04T10:00:00Z", "record": {"id": "pay-text", "amount": "1200"}})),
        )
        .await;
    assert_eq!(
        text_amount.status,
        StatusCode::ACCEPTED,
        "{}",
        text_amount.text
    );
    let warnings = &text_amount.json["warnings"];
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
    assert_eq!(warnings[0]["kind"], "not_numeric");
    assert_eq!(warnings[0]["path"], "/record/amount");
    let payments_aggregator = get(&app, &format!("/v1/products/{}", s.payments))
        .await
        .json["aggregator_id"]
        .clone();
    assert_eq!(warnings[0]["aggregator_id"], payments_aggregator);
    // An event type no aggregator reads.
    let unread = app
        .call(
            Method::POST,
            "/v1/events",
            Some(json!({"customer_id": "acme-42", "event_type": "page_view",
                "timestamp": "2024-12-04T10:00:00Z", "record": {"id": "pv-1"}})),
        )
        .await;
    assert_eq!(
        unread.json["warnings"],
        json!([{"path": "/event_type", "kind": "no_aggregator"}])
    );
    // A batch warns per event; a usable one gets none.
    let batch = app
        .call(
            Method::POST,
            "/v1/events/batch",
            Some(json!([
                {"customer_id": "acme-42", "event_type": "payment",
                 "timestamp": "2024-12-04T11:00:00Z", "record": {"id": "pay-ok", "amount": 10}},
                {"customer_id": "acme-42", "event_type": "payment",
                 "timestamp": "2024-12-04T11:00:00Z", "record": {"id": "pay-bool", "amount": true}}])),
        )
        .await;
    let created = &batch.json["events_created"];
    assert_eq!(created[0]["warnings"], json!([]));
    assert_eq!(created[1]["warnings"][0]["kind"], "not_numeric");

    // The usage and the invoice line say how many events they skipped.
    let usage = get(
        &app,
        &format!(
            "/v1/customers/acme-42/usage/{}",
            payments_aggregator.as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        usage.json["diagnostics"]["skipped_not_numeric"], 2,
        "{}",
        usage.text
    );
    assert_eq!(usage.json["diagnostics"]["matched_events"], 6);
    let draft = post(
        &app,
        &format!("/v1/subscriptions/{}/invoices", s.subscription),
        json!({"at": "2024-12-15T00:00:00Z"}),
    )
    .await;
    let payments_line = &draft.json["line_items"][0];
    assert_eq!(
        payments_line["diagnostics"],
        json!({"matched_events": 6, "skipped_missing": 0, "skipped_not_numeric": 2})
    );
    assert_eq!(
        draft.json["line_items"][1]["diagnostics"]["matched_events"],
        3
    );
}

/// Changes the calls product's unit amount, effective from `effective_from`.
async fn reprice_calls(app: &TestApp, s: &Seeded, unit_amount: &str, effective_from: &str) {
    let product = get(app, &format!("/v1/products/{}", s.calls)).await.json;
    let group = product["price_groups"][0]["id"].clone();
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}", s.calls),
            Some(
                json!({"name": "Calls", "type": "usage", "aggregator_id": s.calls_aggregator,
                "currency": "EUR", "effective_from": effective_from,
                "price_groups": [{"id": group, "name": "calls",
                    "price": {"type": "per_unit", "unit_amount": unit_amount}}]}),
            ),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
}

async fn calls_amount(app: &TestApp, invoice: &str) -> Value {
    get(app, &format!("/v1/invoices/{invoice}")).await.json["line_items"][1]["amount_excluding_tax"]
        .clone()
}

#[tokio::test]
async fn a_period_is_priced_with_the_version_in_effect_at_its_start() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let december = post(
        &app,
        &format!("/v1/subscriptions/{}/invoices", s.subscription),
        json!({"at": "2024-12-15T00:00:00Z"}),
    )
    .await;
    let december = id(&december);
    assert_eq!(calls_amount(&app, &december).await, 6, "3 calls at 2");

    // Effective inside December: December keeps the version in effect on Dec 1.
    reprice_calls(&app, &s, "3", "2024-12-15T00:00:00Z").await;
    assert_eq!(calls_amount(&app, &december).await, 6);
    // Effective from December's start: the draft is repriced.
    reprice_calls(&app, &s, "5", "2024-12-01T00:00:00Z").await;
    assert_eq!(calls_amount(&app, &december).await, 15, "3 calls at 5");
    // Effective from January: December stays at 5.
    reprice_calls(&app, &s, "7", "2025-01-01T00:00:00Z").await;
    assert_eq!(calls_amount(&app, &december).await, 15);
    let finalized = post(
        &app,
        &format!("/v1/invoices/{december}/finalize"),
        json!({}),
    )
    .await;
    assert_eq!(finalized.json["line_items"][1]["amount_excluding_tax"], 15);

    // Every version is listed, with the instant it prices periods from.
    let product = get(&app, &format!("/v1/products/{}", s.calls)).await.json;
    let versions: Vec<(i64, Value, Value)> = product["price_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["effective_from"].clone(),
                v["price_groups"][0]["price"]["unit_amount"].clone(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (1, Value::Null, json!("2")),
            (2, json!("2024-12-15T00:00:00.000Z"), json!("3")),
            (3, json!("2024-12-01T00:00:00.000Z"), json!("5")),
            (4, json!("2025-01-01T00:00:00.000Z"), json!("7")),
        ]
    );
    // The group kept its id in every version.
    let ids: Vec<&Value> = product["price_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["price_groups"][0]["id"])
        .collect();
    assert!(
        ids.iter()
            .all(|id| *id == &product["price_groups"][0]["id"])
    );
    // A PUT without a price change adds no version.
    reprice_calls(&app, &s, "7", "2025-02-01T00:00:00Z").await;
    let again = get(&app, &format!("/v1/products/{}", s.calls)).await.json;
    assert_eq!(again["price_versions"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_put_that_drops_a_price_group_id_is_refused() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}", s.payments),
            Some(json!({"name": "Payment fees", "type": "usage",
                "aggregator_id": get(&app, &format!("/v1/products/{}", s.payments)).await.json["aggregator_id"],
                "currency": "EUR", "price_groups": [{"name": "fees",
                "price": {"type": "percentage", "rate": "2.7", "property": "amount"}}]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST, "{}", put.text);
    assert_eq!(put.json["errors"][0]["path"], "/price_groups/0/id");
    assert_eq!(put.json["errors"][0]["code"], "price_group_id_missing");
    let product = get(&app, &format!("/v1/products/{}", s.payments))
        .await
        .json;
    assert_eq!(product["price_groups"][0]["id"], s.payments_group.as_str());
}

#[tokio::test]
async fn older_price_versions_stay_priceable() {
    let app = TestApp::new().await;
    let s = seed(&app).await;
    // A subscribed product keeps its aggregator: its older versions' groups
    // belong to that aggregator.
    let other = post(
        &app,
        "/v1/aggregators",
        json!({"name": "Other", "event_type": "api_call", "operation": "count"}),
    )
    .await;
    let product = get(&app, &format!("/v1/products/{}", s.calls)).await.json;
    let moved = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}", s.calls),
            Some(
                json!({"name": "Calls", "type": "usage", "aggregator_id": other.json["id"],
                "currency": "EUR", "price_groups": [{"id": product["price_groups"][0]["id"],
                "name": "calls", "price": {"type": "per_unit", "unit_amount": "2"}}]}),
            ),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT, "{}", moved.text);

    // A filter that an older version of a price group uses cannot be removed.
    let filtered = post(
        &app,
        "/v1/aggregators",
        json!({"name": "Filtered", "event_type": "api_call", "operation": "count",
               "filters": [{"name": "mine", "where": {"conditional": "and", "fields": [
                   {"property": "id", "operator": "is_not_null"}]}}]}),
    )
    .await;
    let filter = filtered.json["filters"][0]["id"].clone();
    let uses_filter = post(
        &app,
        "/v1/products",
        json!({"name": "F", "type": "usage", "aggregator_id": filtered.json["id"], "currency": "EUR",
               "price_groups": [{"name": "mine", "aggregator_filter_id": filter,
                                 "price": {"type": "per_unit", "unit_amount": "1"}}]}),
    )
    .await;
    let group = uses_filter.json["price_groups"][0]["id"].clone();
    let unfiltered = app
        .call(
            Method::PUT,
            &format!("/v1/products/{}", id(&uses_filter)),
            Some(
                json!({"name": "F", "type": "usage", "aggregator_id": filtered.json["id"],
                "currency": "EUR", "price_groups": [{"id": group, "name": "mine",
                "price": {"type": "per_unit", "unit_amount": "1"}}]}),
            ),
        )
        .await;
    assert_eq!(unfiltered.status, StatusCode::OK, "{}", unfiltered.text);
    let drop_filter = app
        .call(
            Method::PUT,
            &format!("/v1/aggregators/{}", id(&filtered)),
            Some(json!({"name": "Filtered", "event_type": "api_call", "operation": "count"})),
        )
        .await;
    assert_eq!(
        drop_filter.status,
        StatusCode::CONFLICT,
        "{}",
        drop_filter.text
    );
}
