//! What a browser test holds: the real router over the API tests' seeded
//! `MemoryStore`, served on a loopback port, and a headless Chromium (through
//! its own chromedriver) looking at it.
//!
//! A test of a page is: seed through `h.app`, `h.open(…)` a link,
//! `h.check_page("name")` (accessibility, layout and screenshots in every
//! view), then compare what the page shows (`text_of`, `texts`, `numbers`)
//! with what the API answers.

pub mod axe;
mod cdp;
mod driver;
mod screenshots;

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use axum::http::{Method, StatusCode};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tally_api::ApiConfig;
use tally_web::{PortalConfig, PortalSecret};
use tokio::net::TcpListener;

use crate::support::TestApp;
use cdp::Cdp;
use driver::Driver;

/// The widths every page is checked and pictured at: a small phone and a
/// laptop.
pub const WIDTHS: [u32; 2] = [375, 1440];
/// The height of the viewport before a screenshot stretches it to the page.
const HEIGHT: u32 = 900;

/// `prefers-color-scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Light, Scheme::Dark];

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub struct Harness {
    /// The API in process, over the same service and clock as the served
    /// pages: seed with it, and read what a page should show.
    pub app: TestApp,
    base: String,
    client: Client,
    /// The width and scheme last asked for: in a phone's emulation, a page
    /// wider than the screen widens `window.innerWidth` too.
    view: Cell<(u32, Scheme)>,
    // Declared last, so dropped after the client: it ends the session.
    _driver: Driver,
}

impl Harness {
    /// The server and a browser; `None` when the browser tests are skipped
    /// (`TALLY_SKIP_BROWSER_TESTS=1`). Panics when chromedriver is missing.
    pub async fn start() -> Option<Harness> {
        let Some(driver) = Driver::start() else {
            say(&format!(
                "skipped {}: {}=1",
                test_name(),
                driver::SKIP_VARIABLE
            ));
            return None;
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let secret = PortalSecret::from_text(&"s".repeat(32)).unwrap();
        let app = TestApp::with_config(ApiConfig {
            portal: PortalConfig::new(secret, &base),
            ..ApiConfig::default()
        })
        .await;
        let router = app.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = connect(&driver).await;
        let harness = Harness {
            app,
            base,
            client,
            view: Cell::new((WIDTHS[1], Scheme::Light)),
            _driver: driver,
        };
        harness.view(WIDTHS[1], Scheme::Light).await;
        Some(harness)
    }

    /// A new portal link for `customer` (its `cus_` or external id), as the
    /// API hands it out.
    pub async fn link(&self, customer: &str) -> String {
        let path = format!("/v1/customers/{customer}/portal_sessions");
        let reply = self.app.call(Method::POST, &path, None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["url"].as_str().unwrap().to_owned()
    }

    /// Opens `target`: a whole URL, or a path on the server (`/portal/…`).
    pub async fn open(&self, target: &str) {
        let url = if target.starts_with('/') {
            format!("{}{target}", self.base)
        } else {
            target.to_owned()
        };
        self.client.goto(&url).await.unwrap();
    }

    /// The HTTP status the current page was served with.
    pub async fn status(&self) -> u16 {
        let script = r#"return performance.getEntriesByType("navigation")[0].responseStatus"#;
        let status = self.execute(script).await;
        status.as_u64().and_then(|s| u16::try_from(s).ok()).unwrap()
    }

    /// The rendered text of the one element `selector` matches (as shown:
    /// CSS `text-transform` applies).
    pub async fn text_of(&self, selector: &str) -> String {
        let texts = self.texts(selector).await;
        assert_eq!(texts.len(), 1, "{selector} matches {texts:?}");
        texts.into_iter().next().unwrap()
    }

    /// The rendered text of every element `selector` matches, in order.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(selector)).await.unwrap() {
            texts.push(element.text().await.unwrap());
        }
        texts
    }

    /// The number each element `selector` matches starts with: `3` for
    /// "3", `0.06` for "0.06 EUR". Panics on text that is no number.
    pub async fn numbers(&self, selector: &str) -> Vec<Decimal> {
        let texts = self.texts(selector).await;
        texts.iter().map(|text| number(selector, text)).collect()
    }

    /// The attribute `name` of every element `selector` matches, in order.
    pub async fn attributes(&self, selector: &str, name: &str) -> Vec<String> {
        let found = self.client.find_all(Locator::Css(selector)).await.unwrap();
        let mut values = Vec::with_capacity(found.len());
        for element in found {
            values.push(element.attr(name).await.unwrap().unwrap_or_default());
        }
        values
    }

    /// How many elements `selector` matches.
    pub async fn count(&self, selector: &str) -> usize {
        let found = self.client.find_all(Locator::Css(selector)).await;
        found.unwrap().len()
    }

    /// Types `text` into the one field `selector` matches.
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.client.find(Locator::Css(selector)).await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element `selector` matches (a link, a submit button) and
    /// waits for the page it opens.
    pub async fn click(&self, selector: &str) {
        // The old document is marked; the new one is not. WebDriver's click
        // may come back before a form's submission has replaced the page.
        self.execute("document.documentElement.dataset.leaving = 'yes'; return null")
            .await;
        self.press(selector).await;
        let arrived = "return document.readyState === 'complete' \
                       && document.documentElement.dataset.leaving === undefined";
        for _ in 0..600 {
            if self.execute(arrived).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{selector}: no page opened");
    }

    /// Clicks the element `selector` matches, without waiting for anything.
    async fn press(&self, selector: &str) {
        let element = self.client.find(Locator::Css(selector)).await.unwrap();
        element.click().await.unwrap();
    }

    /// Clicks the download link `selector` matches, as a customer would, and
    /// answers the file the browser saved: its name and its bytes. Fails
    /// when no complete file arrives within a minute.
    pub async fn download(&self, selector: &str) -> (String, Vec<u8>) {
        let folder = tempfile::tempdir().unwrap();
        self.cdp(Cdp::downloads_to(folder.path())).await;
        self.press(selector).await;
        for _ in 0..600 {
            let done: Vec<_> = std::fs::read_dir(folder.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_none_or(|e| e != "crdownload"))
                .collect();
            if let [file] = done.as_slice() {
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                return (name, std::fs::read(file).unwrap());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{selector}: no download arrived");
    }

    /// Whether an alert, confirm or prompt dialog is open.
    pub async fn alert_open(&self) -> bool {
        match self.client.get_alert_text().await {
            Ok(_) => true,
            Err(error) if error.is_no_such_alert() => false,
            Err(error) => panic!("alert not read: {error}"),
        }
    }

    /// Closes the open dialog.
    pub async fn dismiss_alert(&self) {
        self.client.dismiss_alert().await.unwrap();
    }

    /// Runs a script in the page and answers what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// The page in every view (each scheme at each width): no axe violation,
    /// no sideways scrolling, and a screenshot named
    /// `{name}-{width}-{scheme}.png`.
    pub async fn check_page(&self, name: &str) {
        for scheme in Scheme::ALL {
            for width in WIDTHS {
                self.view(width, scheme).await;
                // First, so a failing view can be looked at.
                self.screenshot(name).await;
                self.check_accessibility().await;
                self.check_fits().await;
            }
        }
        self.view(WIDTHS[1], Scheme::Light).await;
    }

    /// Emulates a viewport `width` CSS pixels wide and the colour scheme.
    pub async fn view(&self, width: u32, scheme: Scheme) {
        self.view.set((width, scheme));
        self.cdp(Cdp::viewport(width, HEIGHT)).await;
        self.cdp(Cdp::color_scheme(scheme.as_str())).await;
    }

    /// axe-core's rules on the current page, in the current view: fails
    /// listing each violation (rule, impact, elements, what to fix).
    pub async fn check_accessibility(&self) {
        let outcome = self.accessibility().await;
        if !outcome.is_clean() {
            let (width, scheme) = self.view.get();
            let url = self.client.current_url().await.unwrap();
            panic!("accessibility of {url} at {width} px, {scheme}:\n{outcome}");
        }
    }

    /// What axe-core finds on the current page, in the current view.
    pub async fn accessibility(&self) -> axe::Outcome {
        if self.execute("return typeof axe").await != "object" {
            self.client
                .execute(axe::source(), Vec::new())
                .await
                .unwrap();
        }
        let outcome = self.client.execute_async(axe::run(), Vec::new()).await;
        serde_json::from_value(outcome.unwrap()).unwrap()
    }

    /// The page is no wider than the view: nothing scrolls sideways (a
    /// table may, inside its own box).
    pub async fn check_fits(&self) {
        let script = "return document.documentElement.scrollWidth";
        let page = self.execute(script).await.as_u64().unwrap();
        let (width, scheme) = self.view.get();
        assert!(
            page <= u64::from(width),
            "the page is {page} px wide at {width} px, {scheme}"
        );
    }

    /// The whole page, as it looks in the current view, written as
    /// `{name}-{width}-{scheme}.png` to the screenshots folder.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let (width, scheme) = self.view.get();
        let script = "return document.documentElement.scrollHeight";
        let height = self.execute(script).await.as_u64().unwrap();
        let height = u32::try_from(height).unwrap().max(HEIGHT);
        self.cdp(Cdp::viewport(width, height)).await;
        let png = self.client.screenshot().await.unwrap();
        self.cdp(Cdp::viewport(width, HEIGHT)).await;
        screenshots::write(&format!("{name}-{width}-{scheme}.png"), &png)
    }

    async fn cdp(&self, command: Cdp) {
        self.client.issue_cmd(command).await.unwrap();
    }
}

async fn connect(driver: &Driver) -> Client {
    let options = json!({
        "browserName": "chrome",
        // An alert stays open for `alert_open` to see, instead of being
        // dismissed by the next command.
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {"args": [
            "--headless=new",
            // Chromium's sandbox refuses to start as root, as CI runs.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--window-size=1440,900",
        ]},
    });
    let Value::Object(capabilities) = options else {
        unreachable!()
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|error| panic!("no browser session (is Chromium installed?): {error}"))
}

fn number(selector: &str, text: &str) -> Decimal {
    let first = text.split_whitespace().next().unwrap_or_default();
    Decimal::from_str(first)
        .unwrap_or_else(|_| panic!("{selector}: {text:?} does not start with a number"))
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> String {
    let thread = std::thread::current();
    thread.name().unwrap_or("a browser test").to_owned()
}

/// A line on the terminal even when the test's output is captured.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
