//! The operator console: the account's own view of its customers and events
//! in a browser, opened by signing in with one of its API keys
//! (docs/portal.md, "Operator console").
//!
//! - [`session`]: the session cookie (the account and the key that signed
//!   in, until an expiry, signed with the portal's secret under a purpose of
//!   its own), checked on every request, with the key still required to
//!   exist; the CSRF tokens of its forms.
//! - `sign_in`: the sign-in form (itself protected by a token bound to a
//!   cookie, against login CSRF) and sign-out.
//! - `customers`: the customer list with each customer's usage this period,
//!   and a customer's page.
//! - `events`: the events explorer and deletion by record id, after a
//!   confirmation.
//!
//! Every page is server-rendered (maud), without JavaScript, under the
//! portal's CSP ([`crate::CONTENT_SECURITY_POLICY`]: forms post to the
//! server itself only). Failed sign-ins answer
//! `401`: the API counts them per client address with its failed keys
//! (`tally_api`'s `limit_sign_ins`), and answers [`too_many_sign_ins`] to an
//! address over its budget.

mod customers;
mod events;
mod pager;
mod render;
pub mod session;
mod sign_in;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tally_billing::Billing;

use crate::{PortalConfig, PortalSecret};

/// The sign-in form's path; a `POST` to it that answers `401` is a failed
/// sign-in.
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// The console's stylesheet: the portal's, then the console's own rules.
const STYLESHEET: &str = concat!(
    include_str!("../../assets/portal.css"),
    include_str!("../../assets/console.css")
);

/// The console's routes, under `/console`. Mount it beside `/v1`, outside the
/// API key middleware: its session cookie is the credential.
pub fn router(billing: Billing, config: PortalConfig) -> Router {
    Router::new()
        .route(SIGN_IN_PATH, get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console", get(customers::list))
        .route("/console/customers/{id}", get(customers::detail))
        .route(
            "/console/customers/{id}/subscriptions/{subscription}",
            get(customers::subscription),
        )
        .route(
            "/console/customers/{id}/subscriptions/{subscription}/products/{product}/events.csv",
            get(customers::subscription_csv),
        )
        .route(
            "/console/customers/{id}/invoices/{invoice}",
            get(customers::invoice),
        )
        .route(
            "/console/customers/{id}/invoices/{invoice}/products/{product}/events.csv",
            get(customers::invoice_csv),
        )
        .route(
            "/console/customers/{id}/invoices/{invoice}/events.zip",
            get(customers::invoice_zip),
        )
        .route("/console/events", get(events::explorer))
        .route(
            "/console/events/delete",
            get(events::confirm).post(events::delete),
        )
        .route("/console/assets/console.css", get(stylesheet))
        .with_state(Console { billing, config })
}

/// Whether a request is a sign-in attempt, whose failures count against the
/// client address.
pub fn is_sign_in(method: &Method, path: &str) -> bool {
    method == Method::POST && path == SIGN_IN_PATH
}

/// The answer to a sign-in from an address that failed too often: `429`
/// with `Retry-After`, and a page that says so.
pub fn too_many_sign_ins(retry_after_secs: u64) -> Response {
    let text = format!(
        "Too many sign-ins failed from this address. Try again in {retry_after_secs} seconds."
    );
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        render::message("Too many attempts", &text),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

#[derive(Clone)]
struct Console {
    billing: Billing,
    config: PortalConfig,
}

impl Console {
    fn secret(&self) -> &PortalSecret {
        self.config.secret()
    }

    /// Cookies are `Secure` when the server is reached over https.
    fn secure_cookies(&self) -> bool {
        let url = self.config.public_url();
        url.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

/// A console page: never cached, with the pages' security headers.
fn page(status: StatusCode, markup: maud::Markup) -> Response {
    crate::html(status, markup)
}

/// `303 See Other` to `location`, a path of the console.
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::secure(response)
}

/// The answer to a query string the console cannot read (a field given
/// twice, bad percent-encoding).
fn bad_query(rejection: &axum::extract::rejection::QueryRejection) -> Response {
    tracing::info!(%rejection, "console query refused");
    page(
        StatusCode::BAD_REQUEST,
        render::message("Bad request", "The console cannot read this address."),
    )
}

fn not_found(what: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        render::message("Not found", &format!("No such {what} in this account.")),
    )
}

fn unavailable(error: &tally_billing::BillingError) -> Response {
    tracing::warn!(%error, "console page not read");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        render::message(
            "Unavailable",
            "The console cannot answer right now. Try again in a moment.",
        ),
    )
}

async fn stylesheet() -> Response {
    crate::stylesheet_response(STYLESHEET)
}
