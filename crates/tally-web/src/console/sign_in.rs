//! Signing in with an API key, and out.
//!
//! The form carries a token bound to a nonce cookie of its own (double
//! submit, the token being the nonce's MAC), so another site cannot sign a
//! browser in to an account of its choosing: its forged post would carry
//! neither the strict cookie nor a token matching it.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{
    self, Cookie, NoSession, SIGN_IN_COOKIE, Session, SessionClaims, cookie, nonce, set_cookie,
};
use super::{Console, page, redirect, render, unavailable};

/// What the sign-in form posts. Not `Debug`: it holds a key.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct SignIn {
    api_key: String,
    csrf: String,
}

/// What the sign-out form posts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SignOut {
    csrf: String,
}

const REFUSED_KEY: &str = "This API key was not accepted. Check it and try again.";
const EXPIRED_FORM: &str = "This sign-in form has expired. Enter your API key again.";

/// `GET /console/sign-in`: the form, or the console for an operator already
/// signed in.
pub(super) async fn form(State(console): State<Console>, headers: HeaderMap) -> Response {
    match Session::of(&console, &headers).await {
        Ok(_) => return redirect("/console"),
        Err(NoSession::SignedOut) => {}
        Err(NoSession::Unavailable(error)) => return unavailable(&error),
    }
    // A nonce already set keeps the forms of other tabs valid.
    let nonce = cookie(&headers, SIGN_IN_COOKIE)
        .filter(|nonce| is_nonce(nonce))
        .map_or_else(nonce, str::to_owned);
    form_page(&console, StatusCode::OK, &nonce, None)
}

/// `POST /console/sign-in`: a session for a key any account has; `401` and
/// the form again otherwise, without saying more.
pub(super) async fn submit(
    State(console): State<Console>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let nonce = cookie(&headers, SIGN_IN_COOKIE)
        .filter(|nonce| session::sign_in_token_matches(console.secret(), nonce, &form.csrf));
    let Some(nonce) = nonce else {
        return form_page(
            &console,
            StatusCode::FORBIDDEN,
            &session::nonce(),
            Some(EXPIRED_FORM),
        );
    };
    let key = match console.billing.find_api_key(form.api_key.trim()).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            tracing::info!("console sign-in refused");
            return form_page(&console, StatusCode::UNAUTHORIZED, nonce, Some(REFUSED_KEY));
        }
        Err(error) => return unavailable(&error),
    };
    tracing::info!(account_id = %key.account_id, key_id = %key.id, "console sign-in");
    let claims = SessionClaims::start(key.account_id, key.id, console.billing.now());
    let mut response = redirect("/console");
    let value = session::sign(console.secret(), &claims);
    set_cookie(&mut response, &console, Cookie::Session, Some(&value));
    set_cookie(&mut response, &console, Cookie::SignIn, None);
    response
}

/// `POST /console/sign-out`: clears the session cookie. The cookie is the
/// whole session: a copy of it stays valid until its expiry, unless the key
/// is revoked.
pub(super) async fn sign_out(
    State(console): State<Console>,
    session: Session,
    form: Result<Form<SignOut>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !session.csrf_matches(&console, &form.csrf) {
        return session::form_refused();
    }
    let mut response = redirect(super::SIGN_IN_PATH);
    set_cookie(&mut response, &console, Cookie::Session, None);
    response
}

fn is_nonce(text: &str) -> bool {
    text.len() == session::NONCE_CHARS && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn form_page(console: &Console, status: StatusCode, nonce: &str, error: Option<&str>) -> Response {
    let token = session::sign_in_token(console.secret(), nonce);
    let mut response = page(status, sign_in_page(&token, error));
    set_cookie(&mut response, console, Cookie::SignIn, Some(nonce));
    response
}

fn sign_in_page(csrf: &str, error: Option<&str>) -> Markup {
    render::signed_out(
        "Sign in",
        html! {
            header {
                p.eyebrow { "Tally console" }
                h1 { "Sign in" }
            }
            form.card.sign-in method="post" action=(super::SIGN_IN_PATH) {
                @if let Some(error) = error {
                    p.error #sign-in-error role="alert" { (error) }
                }
                input type="hidden" name="csrf" value=(csrf);
                label for="api_key" { "API key" }
                @if error.is_some() {
                    input #api_key type="password" name="api_key" required
                        autocomplete="current-password" spellcheck="false"
                        aria-invalid="true" aria-describedby="sign-in-error";
                } @else {
                    input #api_key type="password" name="api_key" required
                        autocomplete="current-password" spellcheck="false";
                }
                p.hint { "One of the account's keys (" code { "tally_sk_…" } "). "
                    "The session lasts eight hours." }
                button type="submit" { "Sign in" }
            }
        },
    )
}
