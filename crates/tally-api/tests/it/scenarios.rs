//! Scenario files (`fixtures/api/*.json`): each step is a request, its expected
//! status and a snapshot of the redacted response.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde::Deserialize;
use serde_json::Value;

use crate::support::{KEY_A, TestApp, redacted};

#[derive(Debug, Deserialize)]
struct Scenario {
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    name: String,
    method: String,
    path: String,
    status: u16,
    #[serde(default)]
    body: Option<Value>,
    /// Sent as is, for malformed bodies and other content types.
    #[serde(default)]
    raw_body: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    /// Variable name → JSON pointer into this step's response.
    #[serde(default)]
    save: BTreeMap<String, String>,
}

fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    vars.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    })
}

fn build(step: &Step, vars: &BTreeMap<String, String>) -> Request<Body> {
    let method = Method::from_bytes(step.method.as_bytes()).unwrap();
    let mut builder = Request::builder()
        .method(method)
        .uri(substitute(&step.path, vars))
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"));
    let body = match (&step.body, &step.raw_body) {
        (Some(json), _) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            substitute(&json.to_string(), vars)
        }
        (None, Some(raw)) => raw.clone(),
        (None, None) => String::new(),
    };
    if let Some(content_type) = &step.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body)).unwrap()
}

async fn run(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/api")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let scenario: Scenario = serde_json::from_str(&text).unwrap();
    let app = TestApp::new().await;
    let mut vars = BTreeMap::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let reply = app.send(build(step, &vars)).await;
        assert_eq!(
            reply.status.as_u16(),
            step.status,
            "{name} step {index} {}: {}",
            step.name,
            reply.text
        );
        for (var, pointer) in &step.save {
            let value = reply.json.pointer(pointer).and_then(Value::as_str);
            let value = value.unwrap_or_else(|| panic!("{}: no string at {pointer}", step.name));
            vars.insert(var.clone(), value.to_owned());
        }
        insta::assert_snapshot!(
            format!("{name}__{index:02}_{}", step.name),
            redacted(&reply)
        );
    }
}

#[tokio::test]
async fn walkthrough() {
    run("walkthrough").await;
}

#[tokio::test]
async fn errors() {
    run("errors").await;
}

#[tokio::test]
async fn invoices() {
    run("invoices").await;
}
