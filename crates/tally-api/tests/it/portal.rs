//! The customer portal: `POST /v1/customers/{id}/portal_sessions` hands out a
//! signed link; `GET /portal/{token}` shows that customer's subscriptions and
//! invoices, read-only, and nobody else's.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tally_api::ApiConfig;
use tally_event::Timestamp;
use tally_store::CustomerId;
use tally_web::{PortalClaims, PortalConfig, PortalSecret, token};

use crate::support::{KEY_B, NOW, Reply, TestApp};

pub(crate) const PUBLIC_URL: &str = "https://billing.example.com";

pub(crate) fn secret(text: &str) -> PortalSecret {
    PortalSecret::from_text(&text.repeat(32)).unwrap()
}

pub(crate) async fn app() -> TestApp {
    TestApp::with_config(ApiConfig {
        portal: PortalConfig::new(secret("s"), &format!("{PUBLIC_URL}/")),
        ..ApiConfig::default()
    })
    .await
}

/// Account A: a per-unit product (2 cents a call) and, for each
/// `(external id, name, calls)`, a customer subscribed since December with
/// that many calls; returns the customers' `cus_` ids.
pub(crate) async fn seed(app: &TestApp, customers: &[(&str, &str, usize)]) -> Vec<String> {
    let post = |path: &'static str, body: Value| app.call(Method::POST, path, Some(body));
    let aggregator = post(
        "/v1/aggregators",
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
    )
    .await;
    let product = post(
        "/v1/products",
        json!({"name": "API calls", "type": "usage", "aggregator_id": aggregator.json["id"],
               "currency": "EUR", "price_groups": [{"name": "all",
               "price": {"type": "per_unit", "unit_amount": "2"}}]}),
    )
    .await;
    let mut ids = Vec::new();
    for (external_id, name, calls) in customers {
        let customer = post(
            "/v1/customers",
            json!({"external_id": external_id, "name": name}),
        )
        .await;
        assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
        let subscription = post(
            "/v1/subscriptions",
            json!({"customer_id": customer.json["id"], "product_ids": [product.json["id"]],
                   "starts_at": "2024-12-01T00:00:00Z", "currency": "EUR",
                   "billing_interval": {"period": "months", "count": 1}}),
        )
        .await;
        assert_eq!(
            subscription.status,
            StatusCode::CREATED,
            "{}",
            subscription.text
        );
        for call in 0..*calls {
            let event = post(
                "/v1/events",
                json!({"customer_id": external_id, "event_type": "api_call",
                       "timestamp": "2024-12-02T00:00:00Z",
                       "record": {"id": format!("{external_id}-{call}")}}),
            )
            .await;
            assert!(event.status.is_success(), "{}", event.text);
        }
        ids.push(customer.json["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// A new link to `customer`'s page, as the path the server serves.
pub(crate) async fn session(app: &TestApp, customer: &str, body: Option<Value>) -> String {
    let path = format!("/v1/customers/{customer}/portal_sessions");
    let reply = app.call(Method::POST, &path, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let url = reply.json["url"].as_str().unwrap();
    url.strip_prefix(PUBLIC_URL).unwrap().to_owned()
}

pub(crate) async fn open(app: &TestApp, path: &str) -> Reply {
    app.send(Request::get(path).body(Body::empty()).unwrap())
        .await
}

/// The text of every element carrying the attribute `name`, in order.
pub(crate) fn cells(html: &str, name: &str) -> Vec<String> {
    html.split(&format!(" {name}"))
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_owned()
        })
        .collect()
}

fn assert_refused(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "{what}: {}",
        reply.text
    );
    assert!(reply.text.contains("Link not valid"), "{what}");
    for secret in ["Acme", "Globex", "data-quantity", "INV-"] {
        assert!(!reply.text.contains(secret), "{what} shows {secret}");
    }
    assert_security_headers(reply);
}

pub(crate) fn assert_security_headers(reply: &Reply) {
    let header = |name: &str| reply.headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
}

#[tokio::test]
async fn a_link_shows_the_apis_usage_and_amounts_and_writes_nothing() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 3)]).await;
    let page = open(&app, &session(&app, "acme", None).await).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_security_headers(&page);
    assert!(page.text.contains("<h1>Acme Corp</h1>"), "{}", page.text);
    assert!(page.text.contains("2024-12-01 – 2024-12-31"));
    assert!(!page.text.contains("<script"), "no script in this slice");

    let usage = app
        .call(Method::GET, "/v1/customers/acme/usage", None)
        .await;
    let total = usage.json[0]["total"].clone();
    assert_eq!(total, json!(3), "{}", usage.text);
    assert_eq!(
        cells(&page.text, "data-quantity"),
        [total.to_string().trim_matches('"')]
    );
    // Viewing priced the period without creating its invoice.
    let invoices = app.call(Method::GET, "/v1/invoices", None).await;
    assert_eq!(invoices.json["meta"]["total"], 0, "{}", invoices.text);

    // The draft the API computes has the page's amounts.
    let subscriptions = app.call(Method::GET, "/v1/subscriptions", None).await;
    let subscription = subscriptions.json["data"][0]["id"].as_str().unwrap();
    let path = format!("/v1/subscriptions/{subscription}/invoices");
    let draft = app.call(Method::POST, &path, None).await;
    let line = &draft.json["line_items"][0];
    let euros = |cents: &Value| format!("{:.2} EUR", cents.as_i64().unwrap() as f64 / 100.0);
    assert_eq!(
        cells(&page.text, "data-amount"),
        [euros(&line["amount_excluding_tax"])]
    );
    assert_eq!(
        cells(&page.text, "data-total"),
        [euros(&draft.json["total_amount"])]
    );
    assert_eq!(euros(&line["amount_excluding_tax"]), "0.06 EUR");

    // Opened again, the page lists the invoice too.
    let again = open(&app, &session(&app, "acme", None).await).await;
    assert_eq!(cells(&again.text, "data-number"), ["INV-1"]);
    assert_eq!(cells(&again.text, "data-invoice-total"), ["0.06 EUR"]);
    assert!(again.text.contains("draft"));
}

#[tokio::test]
async fn expired_tampered_malformed_and_foreign_links_answer_403() {
    let app = app().await;
    let ids = seed(&app, &[("acme", "Acme Corp", 3)]).await;
    let short = session(&app, "acme", Some(json!({"expires_in_seconds": 60}))).await;
    let now = Timestamp::parse(NOW).unwrap();
    app.clock
        .set(Timestamp::from_millis(now.as_millis() + 59_999).unwrap());
    assert_eq!(open(&app, &short).await.status, StatusCode::OK);
    app.clock
        .set(Timestamp::from_millis(now.as_millis() + 60_000).unwrap());
    assert_refused(&open(&app, &short).await, "expired");
    app.clock.set(now);

    let good = session(&app, "acme", None).await;
    let (claims, mac) = good.rsplit_once('.').unwrap();
    let flipped = |text: &str| {
        let last = text.chars().last().unwrap();
        format!(
            "{}{}",
            &text[..text.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        )
    };
    assert_refused(
        &open(&app, &format!("{}.{mac}", flipped(claims))).await,
        "claims",
    );
    assert_refused(
        &open(&app, &format!("{claims}.{}", flipped(mac))).await,
        "mac",
    );
    for malformed in ["/portal/x", "/portal/a.b.c", "/portal/%FF", "/portal/."] {
        assert_refused(&open(&app, malformed).await, malformed);
    }

    let claims = PortalClaims {
        account_id: app.account_a.clone(),
        customer_id: CustomerId::parse(&ids[0]).unwrap(),
        expires_at: Timestamp::from_millis(now.as_millis() + 3_600_000).unwrap(),
    };
    let foreign = token::sign(&secret("another"), &claims);
    assert_refused(&open(&app, &format!("/portal/{foreign}")).await, "secret");
    // The same claims signed with the server's secret do open: the secret
    // alone made the difference.
    let own = token::sign(&secret("s"), &claims);
    assert_eq!(
        open(&app, &format!("/portal/{own}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_link_shows_its_customer_only() {
    let app = app().await;
    seed(
        &app,
        &[("acme", "Acme Corp", 3), ("globex", "Globex Inc", 7)],
    )
    .await;
    let acme = open(&app, &session(&app, "acme", None).await).await;
    let globex = open(&app, &session(&app, "globex", None).await).await;
    assert!(acme.text.contains("Acme Corp") && !acme.text.contains("Globex"));
    assert!(globex.text.contains("Globex Inc") && !globex.text.contains("Acme"));
    assert_eq!(cells(&acme.text, "data-quantity"), ["3"]);
    assert_eq!(cells(&globex.text, "data-quantity"), ["7"]);
    assert_eq!(cells(&acme.text, "data-amount"), ["0.06 EUR"]);
    assert_eq!(cells(&globex.text, "data-amount"), ["0.14 EUR"]);
}

#[tokio::test]
async fn names_are_shown_as_text() {
    let app = app().await;
    seed(&app, &[("x", "<script>alert(1)</script>", 1)]).await;
    let page = open(&app, &session(&app, "x", None).await).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn the_stylesheet_is_served_with_the_page_headers() {
    let app = app().await;
    let css = open(&app, "/portal/assets/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(css.headers["x-content-type-options"], "nosniff");
    assert!(css.headers.contains_key("content-security-policy"));
    assert!(css.text.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn a_session_lasts_an_hour_by_default_and_refuses_bad_lifetimes() {
    let app = app().await;
    seed(&app, &[("acme", "Acme Corp", 0)]).await;
    let path = "/v1/customers/acme/portal_sessions";
    let reply = app.call(Method::POST, path, None).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json["expires_at"], "2024-12-21T01:00:00.000Z");
    let week = app
        .call(
            Method::POST,
            path,
            Some(json!({"expires_in_seconds": 604_800})),
        )
        .await;
    assert_eq!(week.json["expires_at"], "2024-12-28T00:00:00.000Z");
    // JSON Schema counts 900.0 as an integer: so does the server.
    let written_as_float = app
        .call(
            Method::POST,
            path,
            Some(json!({"expires_in_seconds": 900.0})),
        )
        .await;
    assert_eq!(
        written_as_float.status,
        StatusCode::CREATED,
        "{}",
        written_as_float.text
    );
    assert_eq!(
        written_as_float.json["expires_at"],
        "2024-12-21T00:15:00.000Z"
    );
    for (body, code) in [
        (json!({"expires_in_seconds": 59}), "out_of_range"),
        (json!({"expires_in_seconds": 604_801}), "out_of_range"),
        (json!({"expires_in_seconds": -1}), "out_of_range"),
        (json!({"expires_in_seconds": "60"}), ""),
        (json!({"expires_in_seconds": 60.5}), "invalid_value"),
        (json!({"expires": 60}), ""),
    ] {
        let reply = app.call(Method::POST, path, Some(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        let error = &reply.json["errors"][0];
        assert!(
            error["path"].as_str().unwrap().starts_with("/expires"),
            "{}",
            reply.text
        );
        if !code.is_empty() {
            assert_eq!(error["code"], code, "{body}");
        }
    }
    let unknown = app
        .call(Method::POST, "/v1/customers/nobody/portal_sessions", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let other_account = app.call_as(Some(KEY_B), Method::POST, path, None).await;
    assert_eq!(other_account.status, StatusCode::NOT_FOUND);
    let no_key = app.call_as(None, Method::POST, path, None).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deleted_customers_link_answers_404_without_data() {
    let app = app().await;
    let customer = app
        .call(
            Method::POST,
            "/v1/customers",
            Some(json!({"external_id": "gone", "name": "Acme Gone"})),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED);
    let link = session(&app, "gone", None).await;
    assert_eq!(open(&app, &link).await.status, StatusCode::OK);
    let deleted = app.call(Method::DELETE, "/v1/customers/gone", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let page = open(&app, &link).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.text);
    assert!(!page.text.contains("Acme"), "{}", page.text);
    assert_security_headers(&page);
}

/// `path` asked for from `address`, as a connection from it would.
async fn open_from(app: &TestApp, path: &str, address: &str) -> Reply {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    let peer: std::net::SocketAddr = address.parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    app.send(request).await
}

#[tokio::test]
async fn an_address_asking_for_too_many_pages_waits_and_others_do_not() {
    let app = TestApp::with_config(ApiConfig {
        portal: PortalConfig::new(secret("s"), PUBLIC_URL),
        // One page back a minute: nothing refills while the test runs.
        page_rate_limit: tally_api::PageRateLimit {
            per_minute: 1,
            burst: 3,
        },
        ..ApiConfig::default()
    })
    .await;
    seed(&app, &[("acme", "Acme Corp", 1)]).await;
    let link = session(&app, "acme", None).await;
    for _ in 0..3 {
        let page = open_from(&app, &link, "10.0.0.1:5000").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    }
    // The stylesheet costs nothing and is not counted.
    let css = open_from(&app, "/portal/assets/portal.css", "10.0.0.1:5000").await;
    assert_eq!(css.status, StatusCode::OK);
    let refused = open_from(&app, &link, "10.0.0.1:5001").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    let retry: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (55..=60).contains(&retry),
        "one page comes back a minute: {retry}"
    );
    assert!(
        refused.text.contains("Too many requests"),
        "{}",
        refused.text
    );
    assert!(!refused.text.contains("Acme"), "no data on the refusal");
    assert_security_headers(&refused);
    // The console's pages spend the same budget, and so does a link that
    // opens nothing: guessing links costs what reading them does.
    let console = open_from(&app, "/console/sign-in", "10.0.0.1:5002").await;
    assert_eq!(console.status, StatusCode::TOO_MANY_REQUESTS);
    let guessed = open_from(&app, "/portal/x.y", "10.0.0.1:5003").await;
    assert_eq!(guessed.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address has its own budget.
    let other = open_from(&app, &link, "10.0.0.2:5000").await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}
