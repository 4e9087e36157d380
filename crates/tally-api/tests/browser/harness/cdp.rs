//! Chrome DevTools Protocol commands through chromedriver's
//! `POST /session/{id}/goog/cdp/execute`. WebDriver itself cannot set the
//! viewport below Chromium's smallest window or the preferred colour scheme;
//! DevTools emulation can, and keeps both across navigations.

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use url::{ParseError, Url};

#[derive(Debug)]
pub struct Cdp {
    method: &'static str,
    params: Value,
}

impl Cdp {
    /// A layout viewport of `width` × `height` CSS pixels at one device
    /// pixel per CSS pixel; below 768 px, as a phone (the page's
    /// `<meta name="viewport">` applies).
    pub fn viewport(width: u32, height: u32) -> Self {
        Cdp {
            method: "Emulation.setDeviceMetricsOverride",
            params: json!({"width": width, "height": height, "deviceScaleFactor": 1,
                           "mobile": width < 768}),
        }
    }

    /// `prefers-color-scheme: light` or `dark`.
    pub fn color_scheme(scheme: &str) -> Self {
        Cdp {
            method: "Emulation.setEmulatedMedia",
            params: json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        }
    }
}

impl Cdp {
    /// Files the page downloads are saved in `folder`, under their own
    /// names, instead of being refused (headless Chromium's default).
    pub fn downloads_to(folder: &std::path::Path) -> Self {
        Cdp {
            method: "Page.setDownloadBehavior",
            params: json!({"behavior": "allow", "downloadPath": folder.to_string_lossy()}),
        }
    }
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = json!({"cmd": self.method, "params": self.params});
        (Method::POST, Some(body.to_string()))
    }
}
