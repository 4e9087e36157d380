//! The operator console: signing in with an API key gives a signed session
//! cookie; the console shows that key's account only (customers with their
//! usage, the events explorer) and deletes events by record id when a form
//! carries the session's CSRF token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tally_api::{ApiConfig, AuthFailureLimit};
use tally_event::Timestamp;
use tally_store::{ApiKeyId, CustomerId};
use tally_web::console::session::{self, SESSION_COOKIE, SESSION_SECONDS, SessionClaims};
use tally_web::{PortalClaims, PortalConfig, PortalSecret, token};

use crate::support::{KEY_A, KEY_B, NOW, Reply, TestApp};

const PUBLIC_URL: &str = "https://billing.example.com";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

fn secret(text: &str) -> PortalSecret {
    PortalSecret::from_text(&text.repeat(32)).unwrap()
}

fn config(public_url: &str) -> ApiConfig {
    ApiConfig {
        portal: PortalConfig::new(secret("s"), public_url),
        ..ApiConfig::default()
    }
}

async fn app() -> TestApp {
    TestApp::with_config(config(PUBLIC_URL)).await
}

/// A browser as far as the console needs one: cookies kept from
/// `Set-Cookie`, sent back with every request, and the client address.
#[derive(Debug, Clone, Default)]
struct Browser {
    cookies: BTreeMap<String, String>,
    address: Option<SocketAddr>,
}

impl Browser {
    fn at(address: &str) -> Self {
        Browser {
            address: Some(address.parse().unwrap()),
            ..Browser::default()
        }
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> Reply {
        let request = self.request(Request::get(path), Body::empty());
        self.send(app, request).await
    }

    async fn post(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let builder =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let request = self.request(builder, Body::from(body));
        self.send(app, request).await
    }

    fn request(&self, mut builder: axum::http::request::Builder, body: Body) -> Request<Body> {
        if !self.cookies.is_empty() {
            let cookies: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            builder = builder.header(header::COOKIE, cookies.join("; "));
        }
        let mut request = builder.body(body).unwrap();
        if let Some(address) = self.address {
            request.extensions_mut().insert(ConnectInfo(address));
        }
        request
    }

    async fn send(&mut self, app: &TestApp, request: Request<Body>) -> Reply {
        let reply = app.send(request).await;
        for set in set_cookies(&reply) {
            let (pair, attributes) = set.split_once(';').unwrap_or((&set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    fn session(&self) -> &str {
        &self.cookies[SESSION_COOKIE]
    }

    /// Signs in with `key` through the form; the reply to the post.
    async fn sign_in(&mut self, app: &TestApp, key: &str) -> Reply {
        let form = self.get(app, "/console/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        let csrf = hidden(&form.text, "csrf");
        self.post(
            app,
            "/console/sign-in",
            &[("api_key", key), ("csrf", &csrf)],
        )
        .await
    }
}

/// A browser signed in with `key`.
async fn signed_in(app: &TestApp, key: &str) -> Browser {
    let mut browser = Browser::default();
    let reply = browser.sign_in(app, key).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    browser
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

fn location(reply: &Reply) -> &str {
    reply.headers[header::LOCATION].to_str().unwrap()
}

/// The value of the hidden input `name` of the page's first form that has one.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The text of every element carrying the attribute `name`, in order.
fn cells(html: &str, name: &str) -> Vec<String> {
    html.split(&format!(" {name}"))
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_owned()
        })
        .collect()
}

/// The value of the attribute `name` of every element carrying it.
fn attributes(html: &str, name: &str) -> Vec<String> {
    let marker = format!(" {name}=\"");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

fn assert_to_sign_in(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "{what}: {}",
        reply.text
    );
    assert_eq!(location(reply), "/console/sign-in", "{what}");
}

async fn post_json(app: &TestApp, key: &str, path: &str, body: Value) -> Reply {
    let reply = app.call_as(Some(key), Method::POST, path, Some(body)).await;
    assert!(reply.status.is_success(), "{path}: {}", reply.text);
    reply
}

/// In the account of `key`: a count of `api_call` events and a sum of the
/// `bytes` of `storage` events, and customers `(external id, name)`.
async fn seed(app: &TestApp, key: &str, customers: &[(&str, &str)]) -> Vec<String> {
    post_json(
        app,
        key,
        "/v1/aggregators",
        json!({"name": "Calls", "event_type": "api_call", "operation": "count",
               "unit_name": "call"}),
    )
    .await;
    post_json(
        app,
        key,
        "/v1/aggregators",
        json!({"name": "Storage", "event_type": "storage", "operation": "sum",
               "property": "bytes"}),
    )
    .await;
    let mut ids = Vec::new();
    for (external_id, name) in customers {
        let body = json!({"external_id": external_id, "name": name});
        let customer = post_json(app, key, "/v1/customers", body).await;
        ids.push(customer.json["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn event(app: &TestApp, key: &str, body: Value) {
    post_json(app, key, "/v1/events", body).await;
}

/// The ids of `GET /v1/events?{query}` as account `key`.
async fn api_event_ids(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let path = format!("/v1/events?order=desc&{query}");
    let reply = app.call_as(Some(key), Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_opens_the_console() {
    let app = app().await;
    seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    let mut browser = Browser::default();
    let form = browser.get(&app, "/console/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(form.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        form.text
            .contains(r#"<label for="api_key">API key</label>"#)
    );
    assert!(
        form.text
            .contains(r#"id="api_key" type="password" name="api_key""#)
    );

    let reply = browser.sign_in(&app, KEY_A).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert_eq!(location(&reply), "/console");
    let cookie = set_cookies(&reply)
        .into_iter()
        .find(|set| set.starts_with("tally_console="))
        .unwrap();
    for attribute in [
        "; HttpOnly",
        "; SameSite=Strict",
        "; Path=/console",
        "; Secure",
        &format!("; Max-Age={SESSION_SECONDS}"),
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    // The sign-in form's nonce is spent.
    assert!(!browser.cookies.contains_key(session::SIGN_IN_COOKIE));

    let console = browser.get(&app, "/console").await;
    assert_eq!(console.status, StatusCode::OK, "{}", console.text);
    assert_eq!(console.headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert!(console.text.contains("Acme Corp"));
    // Signed in, the sign-in form sends to the console.
    let again = browser.get(&app, "/console/sign-in").await;
    assert_eq!(location(&again), "/console");
}

#[tokio::test]
async fn over_http_the_cookie_is_not_secure() {
    let app = TestApp::with_config(config("http://127.0.0.1:8080")).await;
    let mut browser = Browser::default();
    let reply = browser.sign_in(&app, KEY_A).await;
    let cookie = set_cookies(&reply)
        .into_iter()
        .find(|set| set.starts_with("tally_console="))
        .unwrap();
    assert!(cookie.contains("; HttpOnly; SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_wrong_key_answers_401_with_the_form_and_no_session() {
    let app = app().await;
    for key in ["tally_sk_wrong", "", "  "] {
        let mut browser = Browser::default();
        let reply = browser.sign_in(&app, key).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert!(reply.text.contains("This API key was not accepted"));
        assert!(reply.text.contains(r#"aria-invalid="true""#));
        assert!(!browser.cookies.contains_key(SESSION_COOKIE));
        // The form can be sent again as it is.
        let retry = browser.sign_in(&app, KEY_A).await;
        assert_eq!(retry.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn a_sign_in_without_the_forms_token_and_cookie_is_refused() {
    let app = app().await;
    // Another site's form: no nonce cookie (it is SameSite=Strict), and a
    // token of its own choosing or one copied from its own visit.
    let mut visitor = Browser::default();
    let form = visitor.get(&app, "/console/sign-in").await;
    let copied = hidden(&form.text, "csrf");
    for csrf in ["", "forged", copied.as_str()] {
        let mut victim = Browser::default();
        let reply = victim
            .post(
                &app,
                "/console/sign-in",
                &[("api_key", KEY_A), ("csrf", csrf)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{csrf}");
        assert!(!victim.cookies.contains_key(SESSION_COOKIE));
    }
    // The right cookie with another token is refused too.
    let mut browser = Browser::default();
    browser.get(&app, "/console/sign-in").await;
    let reply = browser
        .post(
            &app,
            "/console/sign-in",
            &[("api_key", KEY_A), ("csrf", "AAAA")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn console_pages_without_a_session_send_to_the_sign_in() {
    let app = app().await;
    let ids = seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    event(
        &app,
        KEY_A,
        json!({"customer_id": "acme", "event_type": "api_call",
               "timestamp": "2024-12-02T00:00:00Z", "record": {"id": "r1"}}),
    )
    .await;
    let mut browser = Browser::default();
    for path in [
        "/console".to_owned(),
        "/console/events".to_owned(),
        format!("/console/customers/{}", ids[0]),
        "/console/events/delete?event_type=api_call&record_id=r1".to_owned(),
    ] {
        let reply = browser.get(&app, &path).await;
        assert_to_sign_in(&reply, &path);
        assert!(!reply.text.contains("Acme"), "{path}");
    }
    let reply = browser
        .post(
            &app,
            "/console/events/delete",
            &[
                ("event_type", "api_call"),
                ("record_id", "r1"),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_to_sign_in(&reply, "delete");
    assert_eq!(api_event_ids(&app, KEY_A, "").await.len(), 1);
}

#[tokio::test]
async fn tampered_expired_and_foreign_cookies_are_refused() {
    let app = app().await;
    seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    let good = signed_in(&app, KEY_A).await;
    let cookie = good.session().to_owned();
    let (claims, mac) = cookie.split_once('.').unwrap();
    let flip = |text: &str| {
        let first = if text.starts_with('A') { 'B' } else { 'A' };
        format!("{first}{}", &text[1..])
    };
    let now = Timestamp::parse(NOW).unwrap();
    let keys = app.billing.api_keys(&app.account_a).await.unwrap();
    let other_secret = session::sign(
        &secret("x"),
        &SessionClaims::start(app.account_a.clone(), keys[0].id.clone(), now),
    );
    let link = token::sign(
        &secret("s"),
        &PortalClaims {
            account_id: app.account_a.clone(),
            customer_id: CustomerId::random(),
            expires_at: Timestamp::parse("2025-01-01T00:00:00Z").unwrap(),
        },
    );
    let unknown_key = session::sign(
        &secret("s"),
        &SessionClaims::start(app.account_a.clone(), ApiKeyId::random(), now),
    );
    for (what, value) in [
        ("claims", format!("{}.{mac}", flip(claims))),
        ("mac", format!("{claims}.{}", flip(mac))),
        ("cut", claims.to_owned()),
        ("another secret", other_secret),
        ("a portal link", link),
        ("an unknown key", unknown_key),
    ] {
        let mut browser = good.clone();
        browser.cookies.insert(SESSION_COOKIE.to_owned(), value);
        let reply = browser.get(&app, "/console").await;
        assert_to_sign_in(&reply, what);
        assert!(!reply.text.contains("Acme"), "{what}");
        // The refused cookie is cleared.
        assert!(!browser.cookies.contains_key(SESSION_COOKIE), "{what}");
    }

    // A session ends after eight hours, to the millisecond.
    let end = now.as_millis() + SESSION_SECONDS * 1000;
    app.clock.set(Timestamp::from_millis(end - 1).unwrap());
    let mut browser = good.clone();
    assert_eq!(browser.get(&app, "/console").await.status, StatusCode::OK);
    app.clock.set(Timestamp::from_millis(end).unwrap());
    assert_to_sign_in(&browser.get(&app, "/console").await, "expired");
}

#[tokio::test]
async fn revoking_the_key_ends_its_sessions() {
    let app = app().await;
    let mut browser = signed_in(&app, KEY_A).await;
    assert_eq!(browser.get(&app, "/console").await.status, StatusCode::OK);
    let keys = app.billing.api_keys(&app.account_a).await.unwrap();
    app.billing
        .revoke_api_key(&app.account_a, keys[0].id.as_str())
        .await
        .unwrap();
    assert_to_sign_in(&browser.get(&app, "/console").await, "revoked");
    let mut again = Browser::default();
    assert_eq!(
        again.sign_in(&app, KEY_A).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_out_needs_the_token_and_clears_the_cookie() {
    let app = app().await;
    let mut browser = signed_in(&app, KEY_A).await;
    let page = browser.get(&app, "/console").await;
    let csrf = hidden(&page.text, "csrf");
    let refused = browser.post(&app, "/console/sign-out", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(browser.cookies.contains_key(SESSION_COOKIE));

    let out = browser
        .post(&app, "/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_to_sign_in(&out, "sign-out");
    assert!(
        set_cookies(&out)
            .iter()
            .any(|set| set.starts_with("tally_console=;") && set.contains("Max-Age=0"))
    );
    assert_to_sign_in(&browser.get(&app, "/console").await, "signed out");
}

#[tokio::test]
async fn the_customer_list_shows_the_apis_usage() {
    let app = app().await;
    let ids = seed(&app, KEY_A, &[("acme", "Acme Corp"), ("globex", "Globex")]).await;
    for (customer, calls, bytes) in [("acme", 3, [1.5, 2.0]), ("globex", 1, [10.0, 0.25])] {
        for call in 0..calls {
            event(
                &app,
                KEY_A,
                json!({"customer_id": customer, "event_type": "api_call",
                       "timestamp": "2024-12-02T00:00:00Z",
                       "record": {"id": format!("{customer}-call-{call}")}}),
            )
            .await;
        }
        for (i, size) in bytes.iter().enumerate() {
            event(
                &app,
                KEY_A,
                json!({"customer_id": customer, "event_type": "storage",
                       "timestamp": "2024-12-03T00:00:00Z",
                       "record": {"id": format!("{customer}-storage-{i}"), "bytes": size}}),
            )
            .await;
        }
    }
    let mut browser = signed_in(&app, KEY_A).await;
    let page = browser.get(&app, "/console").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text
            .contains(r#"<th scope="col">Usage this period</th>"#)
    );
    let rows: Vec<&str> = page.text.split("<tr data-customer=").skip(1).collect();
    assert_eq!(rows.len(), 2);
    let mut compared = 0;
    for (row, id) in rows.iter().zip(&ids) {
        assert!(row.starts_with(&format!("\"{id}\"")), "{row}");
        assert!(row.contains(&format!("href=\"/console/customers/{id}\"")));
        let path = format!("/v1/customers/{id}/usage");
        let usage = app.call(Method::GET, &path, None).await;
        let expected: Vec<(String, String)> = usage
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|summary| {
                let total = summary["total"].to_string();
                (summary["aggregator_id"].as_str().unwrap().to_owned(), total)
            })
            .collect();
        let shown: Vec<(String, String)> = attributes(row, "data-aggregator")
            .into_iter()
            .zip(cells(row, "data-usage"))
            .collect();
        assert_eq!(shown, expected, "{id}");
        compared += expected.len();
    }
    assert_eq!(compared, 4);
    let sorted = |row: &str| {
        let mut usage = cells(row, "data-usage");
        usage.sort();
        usage
    };
    assert_eq!(sorted(rows[0]), ["3", "3.5"]);
    assert_eq!(sorted(rows[1]), ["1", "10.25"]);
}

#[tokio::test]
async fn the_customer_list_has_pages_of_fifty() {
    let app = app().await;
    let names: Vec<String> = (0..52).map(|i| format!("customer-{i:02}")).collect();
    let customers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
    seed(&app, KEY_A, &customers).await;
    let mut browser = signed_in(&app, KEY_A).await;
    let first = browser.get(&app, "/console").await;
    assert_eq!(attributes(&first.text, "data-customer").len(), 50);
    assert!(first.text.contains("52 customers"));
    assert!(
        first
            .text
            .contains(r#"<a rel="next" href="/console?page=2">"#)
    );
    assert!(!first.text.contains(r#"rel="prev""#));
    let second = browser.get(&app, "/console?page=2").await;
    assert_eq!(attributes(&second.text, "data-customer").len(), 2);
    assert!(
        second
            .text
            .contains(r#"<a rel="prev" href="/console?page=1">"#)
    );
    assert!(!second.text.contains(r#"rel="next""#));
    // The two pages list every customer once.
    let mut listed: Vec<String> = attributes(&first.text, "data-customer");
    listed.extend(attributes(&second.text, "data-customer"));
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 52);
    let bad = browser.get(&app, "/console?page=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// Account A: `api_call` and `storage` events of acme and globex on
/// several days.
async fn seed_events(app: &TestApp) {
    seed(app, KEY_A, &[("acme", "Acme Corp"), ("globex", "Globex")]).await;
    let events = [
        ("acme", "api_call", "a1", "2024-12-01T10:00:00Z"),
        ("acme", "api_call", "a2", "2024-12-05T10:00:00Z"),
        ("acme", "storage", "s1", "2024-12-06T10:00:00Z"),
        ("globex", "api_call", "g1", "2024-12-10T10:00:00Z"),
        ("globex", "storage", "g2", "2024-12-15T10:00:00Z"),
    ];
    for (customer, event_type, id, at) in events {
        event(
            app,
            KEY_A,
            json!({"customer_id": customer, "event_type": event_type, "timestamp": at,
                   "record": {"id": id, "bytes": 1}}),
        )
        .await;
    }
}

#[tokio::test]
async fn the_events_explorer_filters_as_the_api_does() {
    let app = app().await;
    seed_events(&app).await;
    let mut browser = signed_in(&app, KEY_A).await;
    for (search, api, expected) in [
        ("", "", vec!["g2", "g1", "s1", "a2", "a1"]),
        (
            "event_type=api_call",
            "event_type=api_call",
            vec!["g1", "a2", "a1"],
        ),
        ("customer=globex", "customer_id=globex", vec!["g2", "g1"]),
        ("record_id=s1", "record_id__in=s1", vec!["s1"]),
        (
            "from=2024-12-05T10:00:00Z&to=2024-12-10",
            "timestamp_gte=2024-12-05T10:00:00Z&timestamp_lte=2024-12-10",
            vec!["s1", "a2"],
        ),
        (
            "event_type=storage&customer=acme&from=&to=",
            "event_type=storage&customer_id=acme",
            vec!["s1"],
        ),
        ("customer=nobody", "customer_id=nobody", vec![]),
    ] {
        let page = browser
            .get(&app, &format!("/console/events?{search}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{search}: {}", page.text);
        assert_eq!(cells(&page.text, "data-record-id"), expected, "{search}");
        let shown = attributes(&page.text, "data-event");
        assert_eq!(shown, api_event_ids(&app, KEY_A, api).await, "{search}");
    }
    // The form keeps what was searched.
    let page = browser
        .get(&app, "/console/events?event_type=storage&customer=acme")
        .await;
    assert!(page.text.contains(r#"name="customer" value="acme""#));
    assert!(page.text.contains("1 event, newest first"));

    let bad = browser.get(&app, "/console/events?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("role=\"alert\""));
    assert!(bad.text.contains("From: expected a date"), "{}", bad.text);
    assert!(cells(&bad.text, "data-record-id").is_empty());
}

#[tokio::test]
async fn the_events_explorer_has_pages_that_keep_the_search() {
    let app = app().await;
    seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    let events: Vec<Value> = (0..51)
        .map(|i| {
            json!({"customer_id": "acme", "event_type": "api_call",
                   "timestamp": format!("2024-12-02T00:00:{:02}Z", i % 60),
                   "record": {"id": format!("r{i:02}")}})
        })
        .collect();
    post_json(&app, KEY_A, "/v1/events/batch", Value::Array(events)).await;
    let mut browser = signed_in(&app, KEY_A).await;
    let first = browser
        .get(&app, "/console/events?event_type=api_call")
        .await;
    assert_eq!(cells(&first.text, "data-record-id").len(), 50);
    let next = r#"<a rel="next" href="/console/events?event_type=api_call&amp;page=2">"#;
    assert!(first.text.contains(next), "{}", first.text);
    let second = browser
        .get(&app, "/console/events?event_type=api_call&page=2")
        .await;
    assert_eq!(cells(&second.text, "data-record-id"), ["r00"]);
}

#[tokio::test]
async fn deleting_an_event_needs_a_confirmation_and_the_sessions_token() {
    let app = app().await;
    seed_events(&app).await;
    let mut browser = signed_in(&app, KEY_A).await;
    let explorer = browser.get(&app, "/console/events?record_id=a2").await;
    let link = "/console/events/delete?event_type=api_call&amp;record_id=a2";
    assert!(explorer.text.contains(link), "{}", explorer.text);

    let confirm = browser
        .get(
            &app,
            "/console/events/delete?event_type=api_call&record_id=a2",
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    assert!(confirm.text.contains("Delete this event?"));
    assert!(confirm.text.contains("2024-12-05 10:00:00.000Z"));
    assert!(confirm.text.contains(r#"action="/console/events/delete""#));
    let csrf = hidden(&confirm.text, "csrf");
    // Another session of the same account has another token.
    let other = signed_in(&app, KEY_A).await;
    let mut other_page = other.clone();
    let other_csrf = hidden(&other_page.get(&app, "/console").await.text, "csrf");
    assert_ne!(csrf, other_csrf);

    let key = [("event_type", "api_call"), ("record_id", "a2")];
    for (what, token) in [
        ("no token", None),
        ("a wrong token", Some("AAAA")),
        ("another session's", Some(other_csrf.as_str())),
    ] {
        let mut form = key.to_vec();
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let refused = browser.post(&app, "/console/events/delete", &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(
            api_event_ids(&app, KEY_A, "record_id__in=a2").await.len(),
            1,
            "{what} deleted"
        );
    }

    let mut form = key.to_vec();
    form.push(("csrf", &csrf));
    let deleted = browser.post(&app, "/console/events/delete", &form).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text);
    assert_eq!(location(&deleted), "/console/events?deleted=1");
    let notice = browser.get(&app, location(&deleted)).await;
    assert!(notice.text.contains("The event was deleted."));
    assert!(
        api_event_ids(&app, KEY_A, "record_id__in=a2")
            .await
            .is_empty()
    );
    assert_eq!(api_event_ids(&app, KEY_A, "").await.len(), 4);
    // Gone, it has nothing to confirm.
    let gone = browser
        .get(
            &app,
            "/console/events/delete?event_type=api_call&record_id=a2",
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_sees_and_deletes_only_its_own_account() {
    let app = app().await;
    let a_ids = seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    seed(&app, KEY_B, &[("initech", "Initech")]).await;
    for (key, customer, id) in [(KEY_A, "acme", "shared"), (KEY_B, "initech", "b-only")] {
        event(
            &app,
            key,
            json!({"customer_id": customer, "event_type": "api_call",
                   "timestamp": "2024-12-02T00:00:00Z", "record": {"id": id}}),
        )
        .await;
    }
    let mut b = signed_in(&app, KEY_B).await;
    let list = b.get(&app, "/console").await;
    assert!(list.text.contains("Initech"));
    assert!(!list.text.contains("Acme") && !list.text.contains(&a_ids[0]));
    let detail = b
        .get(&app, &format!("/console/customers/{}", a_ids[0]))
        .await;
    assert_eq!(detail.status, StatusCode::NOT_FOUND);
    assert!(!detail.text.contains("Acme"));

    let events = b.get(&app, "/console/events").await;
    assert_eq!(cells(&events.text, "data-record-id"), ["b-only"]);
    let by_customer = b
        .get(&app, &format!("/console/events?customer={}", a_ids[0]))
        .await;
    assert!(cells(&by_customer.text, "data-record-id").is_empty());
    let confirm = b
        .get(
            &app,
            "/console/events/delete?event_type=api_call&record_id=shared",
        )
        .await;
    assert_eq!(confirm.status, StatusCode::NOT_FOUND);

    // With B's own valid token, a delete of A's key deletes nothing of A's.
    let csrf = hidden(&events.text, "csrf");
    let reply = b
        .post(
            &app,
            "/console/events/delete",
            &[
                ("event_type", "api_call"),
                ("record_id", "shared"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(location(&reply), "/console/events?deleted=0");
    assert_eq!(
        api_event_ids(&app, KEY_A, "record_id__in=shared")
            .await
            .len(),
        1
    );
    assert_eq!(api_event_ids(&app, KEY_B, "").await.len(), 1);
}

#[tokio::test]
async fn records_and_names_are_shown_escaped() {
    let app = app().await;
    let script = "<script>alert(1)</script>";
    seed(&app, KEY_A, &[("acme", script)]).await;
    event(
        &app,
        KEY_A,
        json!({"customer_id": "acme", "event_type": "api_call",
               "timestamp": "2024-12-02T00:00:00Z",
               "record": {"id": "\"><b>x</b>", "note": script}}),
    )
    .await;
    let mut browser = signed_in(&app, KEY_A).await;
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for path in [
        "/console",
        "/console/events",
        "/console/events/delete?event_type=api_call&record_id=%22%3E%3Cb%3Ex%3C%2Fb%3E",
    ] {
        let page = browser.get(&app, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        assert!(page.text.contains(escaped), "{path}: {}", page.text);
        assert!(!page.text.contains("<script"), "{path}");
        assert!(!page.text.contains("<b>x"), "{path}");
    }
}

fn failure_limit(max_failures: u32) -> ApiConfig {
    ApiConfig {
        auth_failure_limit: AuthFailureLimit {
            max_failures,
            window: Duration::from_secs(60),
        },
        ..config(PUBLIC_URL)
    }
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_with_failed_keys() {
    let app = TestApp::with_config(failure_limit(3)).await;
    let mut attacker = Browser::at("192.0.2.1:50000");
    for key in ["tally_sk_one", "tally_sk_two"] {
        let reply = attacker.sign_in(&app, key).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // A failed API key from the same address spends the same budget.
    let mut request =
        crate::support::request(Method::GET, "/v1/customers", Some("tally_sk_three"), None);
    request.extensions_mut().insert(ConnectInfo(
        "192.0.2.1:50001".parse::<SocketAddr>().unwrap(),
    ));
    assert_eq!(app.send(request).await.status, StatusCode::UNAUTHORIZED);

    // Spent: even the right key is refused before it is read.
    let limited = attacker.sign_in(&app, KEY_A).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers[header::RETRY_AFTER], "20");
    assert!(limited.text.contains("Try again in 20 seconds."));
    assert!(!attacker.cookies.contains_key(SESSION_COOKIE));
    // Another address signs in.
    let mut other = Browser::at("192.0.2.2:1");
    assert_eq!(
        other.sign_in(&app, KEY_A).await.status,
        StatusCode::SEE_OTHER
    );
    // And the form itself is still served to the limited address.
    assert_eq!(
        attacker.get(&app, "/console/sign-in").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_customers_page_is_the_portals_page_of_that_customer() {
    let app = app().await;
    let ids = seed(&app, KEY_A, &[("acme", "Acme Corp")]).await;
    let mut browser = signed_in(&app, KEY_A).await;
    let page = browser
        .get(&app, &format!("/console/customers/{}", ids[0]))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("<h1>Acme Corp</h1>"));
    assert_eq!(page.headers[header::CONTENT_SECURITY_POLICY], CSP);
    for missing in ["cus_nope", "acme", &CustomerId::random().to_string()] {
        let reply = browser
            .get(&app, &format!("/console/customers/{missing}"))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn a_customers_explorer_and_downloads_are_the_portals_under_the_console() {
    let app = app().await;
    let ids = crate::portal::seed(&app, &[("acme", "Acme Corp", 3)]).await;
    let subscriptions = app
        .call(Method::GET, "/v1/subscriptions?customer_id=acme", None)
        .await;
    let subscription = subscriptions.json["data"][0]["id"].as_str().unwrap();
    let invoice = app
        .call(
            Method::POST,
            &format!("/v1/subscriptions/{subscription}/invoices"),
            None,
        )
        .await;
    let invoice_id = invoice.json["id"].as_str().unwrap();
    let base = format!("/console/customers/{}", ids[0]);
    let paths = [
        format!("{base}/subscriptions/{subscription}"),
        format!("{base}/invoices/{invoice_id}"),
        format!("{base}/invoices/{invoice_id}/events.zip"),
    ];

    let mut browser = signed_in(&app, KEY_A).await;
    let home = browser.get(&app, &base).await;
    assert!(
        home.text
            .contains(&format!("href=\"{base}/subscriptions/{subscription}\"")),
        "links stay under the console: {}",
        home.text
    );
    let explorer = browser.get(&app, &paths[0]).await;
    assert_eq!(explorer.status, StatusCode::OK, "{}", explorer.text);
    assert_eq!(explorer.headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(attributes(&explorer.text, "data-event").len(), 3);
    let lines = browser.get(&app, &paths[1]).await;
    assert_eq!(lines.status, StatusCode::OK, "{}", lines.text);
    assert!(lines.text.contains(&format!("href=\"{}\"", paths[2])));
    let zip = browser.get(&app, &paths[2]).await;
    let api_zip = app
        .call(
            Method::GET,
            &format!("/v1/invoices/{invoice_id}/events.zip"),
            None,
        )
        .await;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.bytes, api_zip.bytes);

    // Another account's session finds none of it; no session is sent to sign in.
    let mut other = signed_in(&app, KEY_B).await;
    let mut anonymous = Browser::default();
    for path in &paths {
        let reply = other.get(&app, path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert!(!reply.text.contains("Acme"), "{path}");
        assert_to_sign_in(&anonymous.get(&app, path).await, path);
    }
}
