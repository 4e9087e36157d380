//! `tally export` on the database a server filled: the CSV of a subscription
//! period, to a file and to standard output, and the ZIP of an invoice.

use axum::http::Method;

use crate::server::{self, Server};
use crate::{ingest_seed_events, set_up_catalog};

/// The one verified call of December, billed 2 cents (first volume tier).
fn check_csv(text: &str) {
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "id,timestamp,name,record.durationInMs,record.id,record.isVerified,quantity,amount,currency"
    );
    let (id, rest) = lines[1].split_once(',').unwrap_or_default();
    assert!(id.starts_with("evt_"), "{id}");
    assert_eq!(
        rest,
        "2024-12-20T16:04:11.000Z,D32NAA8 (32 ms),32,D32NAA8,true,1,0.02,EUR"
    );
}

#[tokio::test]
async fn export_writes_a_subscription_csv_to_a_file_and_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let server = Server::start(&url);
    set_up_catalog(&server).await;
    ingest_seed_events(&server).await;
    let (_, subscriptions) = server.call(Method::GET, "/v1/subscriptions", None).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap().to_owned();
    let product = subscriptions["data"][0]["product_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(server.stop().success());
    let output = dir.path().join("calls.csv");
    let output_text = output.display().to_string();
    let args = [
        "export",
        "--database-url",
        &url,
        "--account",
        "default",
        "--subscription",
        &subscription,
        "--product",
        &product,
        "--start-date",
        "2024-12-01T00:00:00Z",
        "--end-date",
        "2025-01-01T00:00:00Z",
    ];
    let mut to_file = args.to_vec();
    to_file.extend(["--output", &output_text]);
    assert_eq!(server::tally(&to_file), "");
    check_csv(&std::fs::read_to_string(&output).unwrap());
    assert!(!dir.path().join("calls.csv.partial").exists());
    let mut to_stdout = args.to_vec();
    to_stdout.extend(["--output", "-"]);
    check_csv(&server::tally(&to_stdout));
}

#[tokio::test]
async fn export_writes_an_invoice_zip() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let server = Server::start(&url);
    set_up_catalog(&server).await;
    ingest_seed_events(&server).await;
    let (_, subscriptions) = server.call(Method::GET, "/v1/subscriptions", None).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let body = serde_json::json!({"at": "2024-12-15T00:00:00Z"});
    let (status, invoice) = server.call(Method::POST, &path, Some(&body)).await;
    assert!(status.is_success(), "{invoice}");
    assert!(server.stop().success());
    let invoice = invoice["id"].as_str().unwrap().to_owned();
    let output = dir.path().join("events.zip");
    let output_text = output.display().to_string();
    let args = [
        "export",
        "--database-url",
        &url,
        "--account",
        "default",
        "--invoice",
        &invoice,
        "--output",
        &output_text,
    ];
    assert_eq!(server::tally(&args), "");
    let file = std::fs::File::open(&output).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    assert_eq!(zip.len(), 1);
    let mut csv = zip.by_index(0).unwrap();
    assert_eq!(csv.name(), "API calls.csv");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut csv, &mut text).unwrap();
    check_csv(&text);
}
