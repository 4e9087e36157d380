//! Tally's customer portal: a link the account's server hands to one of its
//! customers, and the read-only pages that link opens (docs/portal.md).
//!
//! - [`token`]: the link's token, signed with the server's [`PortalSecret`]
//!   and checked without a database lookup.
//! - [`router`]: `GET /portal/{token}` and the pages under it, and
//!   `GET /portal/assets/portal.css`, server-rendered ([`render`], maud),
//!   without JavaScript, behind a strict `Content-Security-Policy`. It is
//!   mounted outside the API's key middleware: the token is the credential.
//! - [`pages`]: one customer's pages and downloads ([`CustomerPages`]),
//!   whoever opens them.
//! - [`view`], [`explorer`]: what the pages show, read through the billing
//!   use cases; nothing is written (a current period is priced by
//!   [`Billing::preview_period`](tally_billing::Billing::preview_period)).
//! - [`download`]: streamed CSV and ZIP bodies, shared with the API's export
//!   routes.
//! - [`console`]: the operator console under `/console`, opened by signing
//!   in with an API key: the account's customers with their usage and their
//!   pages, the events explorer and deletion by record id.

#![warn(missing_docs)]

pub mod console;
pub mod download;
pub mod explorer;
pub mod pages;
pub mod render;
pub mod token;
pub mod view;

use axum::Router;
use axum::extract::{FromRequestParts, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tally_billing::Billing;
use tally_event::Timestamp;
use tally_store::{AccountId, CustomerId};

pub use explorer::ExplorerQuery;
pub use pages::CustomerPages;

pub use token::{PortalClaims, PortalSecret, SecretTooShort, TokenError};

/// Seconds a link lasts when the request does not say.
pub const DEFAULT_LINK_SECONDS: u32 = 3600;
/// The shortest life a link may be given: one minute.
pub const MIN_LINK_SECONDS: u32 = 60;
/// The longest life a link may be given: one week.
pub const MAX_LINK_SECONDS: u32 = 604_800;

/// The portal's stylesheet, built into the binary.
const STYLESHEET: &str = include_str!("../assets/portal.css");

/// Where a portal or console page may load from: its own stylesheet and
/// images, nothing else; no script, forms only to the server itself (the
/// explorer's filters, the console's forms), no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

/// `path` as logs may show it: a portal link's token is a credential, so it
/// is replaced by `{token}` (`/portal/{token}/invoices/inv_…`).
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/portal/") {
        Some(rest) if !rest.starts_with("assets/") => {
            let after = rest.find('/').map_or("", |slash| &rest[slash..]);
            format!("/portal/{{token}}{after}").into()
        }
        _ => path.into(),
    }
}

#[derive(Clone)]
struct Portal {
    billing: Billing,
    config: PortalConfig,
}

/// `GET /portal/{token}`, the pages and downloads under it
/// ([`CustomerPages`]), and `GET /portal/assets/portal.css`.
pub fn router(billing: Billing, config: PortalConfig) -> Router {
    Router::new()
        .route("/portal/assets/portal.css", get(stylesheet))
        .route("/portal/{token}", get(home))
        .route("/portal/{token}/subscriptions/{id}", get(subscription))
        .route(
            "/portal/{token}/subscriptions/{id}/products/{product}/events.csv",
            get(subscription_csv),
        )
        .route("/portal/{token}/invoices/{id}", get(invoice))
        .route(
            "/portal/{token}/invoices/{id}/products/{product}/events.csv",
            get(invoice_csv),
        )
        .route("/portal/{token}/invoices/{id}/events.zip", get(invoice_zip))
        .with_state(Portal { billing, config })
}

impl Portal {
    /// The pages the token opens; `None` (logged) when it opens none.
    fn pages(&self, token: &str) -> Option<CustomerPages> {
        match token::verify(self.config.secret(), token, self.billing.now()) {
            Ok(claims) => Some(CustomerPages {
                account: claims.account_id,
                customer: claims.customer_id,
                base: format!("/portal/{token}"),
            }),
            Err(reason) => {
                tracing::info!(%reason, "portal link refused");
                None
            }
        }
    }
}

fn refused() -> Response {
    html(StatusCode::FORBIDDEN, render::refused())
}

/// The answer to a client address that asked for too many pages: `429`
/// with `Retry-After`, and a page that says so.
pub fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = html(
        StatusCode::TOO_MANY_REQUESTS,
        render::too_many_requests(retry_after_secs),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// What a portal path names: the pages its token opens, and the ids after
/// it (empty when the route has none). A path whose token opens nothing, or
/// that does not decode, is refused before anything is read.
struct Opened {
    pages: CustomerPages,
    id: String,
    product: String,
}

impl FromRequestParts<Portal> for Opened {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, portal)
            .await
            .map_err(|_| refused())?;
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| *key == name)
                .map_or_else(String::new, |(_, value)| value.to_owned())
        };
        let pages = portal.pages(&param("token")).ok_or_else(refused)?;
        Ok(Opened {
            pages,
            id: param("id"),
            product: param("product"),
        })
    }
}

type ExplorerParams = Result<Query<ExplorerQuery>, axum::extract::rejection::QueryRejection>;

async fn home(State(portal): State<Portal>, opened: Opened) -> Response {
    secure(opened.pages.home(&portal.billing).await)
}

async fn subscription(
    State(portal): State<Portal>,
    opened: Opened,
    query: ExplorerParams,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let page = opened
        .pages
        .subscription(&portal.billing, &opened.id, query);
    secure(page.await)
}

async fn invoice(State(portal): State<Portal>, opened: Opened, query: ExplorerParams) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    secure(
        opened
            .pages
            .invoice(&portal.billing, &opened.id, query)
            .await,
    )
}

async fn subscription_csv(State(portal): State<Portal>, opened: Opened) -> Response {
    let csv = opened
        .pages
        .subscription_csv(&portal.billing, &opened.id, &opened.product);
    secure(csv.await)
}

async fn invoice_csv(State(portal): State<Portal>, opened: Opened) -> Response {
    let csv = opened
        .pages
        .invoice_csv(&portal.billing, &opened.id, &opened.product);
    secure(csv.await)
}

async fn invoice_zip(State(portal): State<Portal>, opened: Opened) -> Response {
    secure(opened.pages.invoice_zip(&portal.billing, &opened.id).await)
}

async fn stylesheet() -> Response {
    stylesheet_response(STYLESHEET)
}

/// A stylesheet, cacheable for an hour.
fn stylesheet_response(css: &'static str) -> Response {
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
    secure(response)
}

/// An HTML page: never cached, with the security headers.
fn html(status: StatusCode, markup: maud::Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // A page carries the customer's data: no cache keeps it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(response)
}

/// The headers of every portal and console response (set again over a
/// page's: the same values).
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
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
