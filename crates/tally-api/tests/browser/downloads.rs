//! Downloads and paging, as a customer does them: the links the pages show
//! are clicked, the files the browser saves are the API's exports byte for
//! byte, and *Next* pages through every event once.

use std::io::Read;

use axum::http::Method;

use crate::harness::Harness;
use crate::seed::{self, Catalog};

#[tokio::test]
async fn the_invoices_zip_and_csv_are_the_apis_exports() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (Catalog { calls, .. }, acme) = seed::acme(&h.app, "2024-11-01T00:00:00Z").await;
    seed::calls(&h.app, "acme", "2024-11-10T09:30:00Z", 5).await;
    let invoice = seed::invoice(&h.app, &acme.subscription, "2024-11-15T00:00:00Z", true).await;
    let id = invoice["id"].as_str().unwrap();
    let number = invoice["number"].as_str().unwrap();
    h.open(&format!("{}/invoices/{id}", h.link("acme").await))
        .await;

    let (name, zip) = h.download("[data-export=zip]").await;
    assert_eq!(name, format!("events-{number}.zip"));
    let api = h
        .app
        .call(Method::GET, &format!("/v1/invoices/{id}/events.zip"), None)
        .await;
    assert_eq!(zip, api.bytes, "the saved ZIP is the API's");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut csv = String::new();
    archive
        .by_index(0)
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "a header and the five calls");

    let (name, saved) = h
        .download(&format!("[data-export=csv][data-product=\"{calls}\"]"))
        .await;
    assert_eq!(name, format!("events-{calls}.csv"));
    let path = format!("/v1/invoices/{id}/products/{calls}/events.csv");
    let api = h.app.call(Method::GET, &path, None).await;
    assert_eq!(saved, api.bytes, "the saved CSV is the API's");
}

#[tokio::test]
async fn next_and_the_date_filter_walk_the_apis_events() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let Catalog { calls, .. } = seed::catalog(&h.app).await;
    let acme = seed::customer(
        &h.app,
        ("acme", "Acme Corp"),
        &[&calls],
        "2024-12-01T00:00:00Z",
    )
    .await;
    seed::calls(&h.app, "acme", "2024-12-02T10:00:00Z", 20).await;
    seed::calls(&h.app, "acme", "2024-12-09T10:00:00Z", 10).await;
    h.open(&format!(
        "{}/subscriptions/{}",
        h.link("acme").await,
        acme.subscription
    ))
    .await;

    let mut shown = h.attributes("tr[data-event]", "data-event").await;
    assert_eq!(h.text_of("[data-range]").await, "Events 1–25 of 30");
    h.click("a[rel=next]").await;
    assert_eq!(h.text_of("[data-range]").await, "Events 26–30 of 30");
    assert_eq!(h.count("a[rel=next]").await, 0);
    shown.extend(h.attributes("tr[data-event]", "data-event").await);
    let path = format!(
        "/v1/subscriptions/{}/consumption?take=100",
        acme.subscription
    );
    let api = seed::get(&h.app, &path).await;
    let ids: Vec<String> = api["products"][0]["price_groups"][0]["events"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, ids, "the two pages list every event once, in order");

    // The form, filled as a person would: only the 9th's ten calls remain.
    h.fill("#from", "12/09/2024").await;
    h.fill("#to", "12/09/2024").await;
    h.click(".filters button[type=submit]").await;
    assert_eq!(h.count("tr[data-event]").await, 10);
    assert_eq!(
        h.text_of("[data-matched]").await,
        "10 events in the dates chosen, billed 0.20 EUR."
    );
}
