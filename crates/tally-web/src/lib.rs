//! Tally's customer portal: a link the account's server hands to one of its
//! customers, and the read-only pages that link opens (docs/portal.md).
//!
//! - [`token`]: the link's token, signed with the server's [`PortalSecret`]
//!   and checked without a database lookup.
//! - [`router`]: `GET /portal/{token}` (the customer's page) and
//!   `GET /portal/assets/portal.css`, server-rendered ([`render`], maud),
//!   without JavaScript, behind a strict `Content-Security-Policy`. It is
//!   mounted outside the API's key middleware: the token is the credential.
//! - [`view`]: what a page shows, read through the billing use cases; nothing
//!   is written (a current period is priced by
//!   [`Billing::preview_period`](tally_billing::Billing::preview_period)).
//! - [`console`]: the operator console under `/console`, opened by signing
//!   in with an API key: the account's customers with their usage, the
//!   events explorer and deletion by record id.

#![warn(missing_docs)]

pub mod console;
pub mod render;
pub mod token;
pub mod view;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tally_billing::{Billing, BillingError};
use tally_event::Timestamp;
use tally_store::{AccountId, CustomerId};

pub use token::{PortalClaims, PortalSecret, SecretTooShort, TokenError};

/// Seconds a link lasts when the request does not say.
pub const DEFAULT_LINK_SECONDS: u32 = 3600;
/// The shortest life a link may be given: one minute.
pub const MIN_LINK_SECONDS: u32 = 60;
/// The longest life a link may be given: one week.
pub const MAX_LINK_SECONDS: u32 = 604_800;

/// The portal's stylesheet, built into the binary.
const STYLESHEET: &str = include_str!("../assets/portal.css");

/// Where a page may load from: its own stylesheet and images, nothing else;
/// no script, no form, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The portal's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfig {
    secret: PortalSecret,
    public_url: String,
}

impl PortalConfig {
    /// Links signed with `secret`, starting with `public_url` (its trailing
    /// `/` dropped), the address customers reach the server at.
    pub fn new(secret: PortalSecret, public_url: &str) -> Self {
        PortalConfig {
            secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The key links are signed with.
    pub fn secret(&self) -> &PortalSecret {
        &self.secret
    }

    /// The base of every link, without a trailing `/`.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The link to `customer`'s page, valid until `expires_at`.
    pub fn link(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        expires_at: Timestamp,
    ) -> String {
        let claims = PortalClaims {
            account_id: account.clone(),
            customer_id: customer.clone(),
            expires_at,
        };
        let token = token::sign(&self.secret, &claims);
        format!("{}/portal/{token}", self.public_url)
    }
}

impl Default for PortalConfig {
    /// A secret generated now (links end with the process) and the default
    /// listen address.
    fn default() -> Self {
        PortalConfig::new(
            PortalSecret::generate(&mut rand::rng()),
            "http://127.0.0.1:8080",
        )
    }
}

/// Whether `path` is a portal link, whose token is a credential: logs name
/// the route (`/portal/{token}`) instead.
pub fn is_link_path(path: &str) -> bool {
    path.strip_prefix("/portal/")
        .is_some_and(|rest| !rest.starts_with("assets/"))
}

#[derive(Clone)]
struct Portal {
    billing: Billing,
    config: PortalConfig,
}

/// `GET /portal/{token}` and `GET /portal/assets/portal.css`.
pub fn router(billing: Billing, config: PortalConfig) -> Router {
    Router::new()
        .route("/portal/assets/portal.css", get(stylesheet))
        .route("/portal/{token}", get(page))
        .with_state(Portal { billing, config })
}

async fn page(
    State(portal): State<Portal>,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return html(StatusCode::FORBIDDEN, render::refused());
    };
    let claims = match token::verify(portal.config.secret(), &token, portal.billing.now()) {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(%reason, "portal link refused");
            return html(StatusCode::FORBIDDEN, render::refused());
        }
    };
    match view::load(&portal.billing, &claims.account_id, &claims.customer_id).await {
        Ok(view) => html(StatusCode::OK, render::portal(&view)),
        Err(BillingError::NotFound { .. }) => html(StatusCode::NOT_FOUND, render::gone()),
        Err(error) => {
            tracing::warn!(%error, "portal page not read");
            html(StatusCode::SERVICE_UNAVAILABLE, render::unavailable())
        }
    }
}

async fn stylesheet() -> Response {
    stylesheet_response(STYLESHEET, CONTENT_SECURITY_POLICY)
}

/// A stylesheet, cacheable for an hour.
fn stylesheet_response(css: &'static str, policy: &'static str) -> Response {
    let mut response = css.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    secure(response, policy)
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    html_with(status, markup, CONTENT_SECURITY_POLICY)
}

/// A page under `policy`, never cached.
fn html_with(status: StatusCode, markup: maud::Markup, policy: &'static str) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // A page carries the customer's data: no cache keeps it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(response, policy)
}

/// The headers of every portal and console response.
fn secure(mut response: Response, policy: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}
