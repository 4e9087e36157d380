//! The console's session: a cookie that names the account, the API key that
//! signed in and a random session id, until an expiry, signed with the
//! portal's secret under the `tally-console-session:` prefix. Nothing is
//! stored: any replica with the secret accepts it, and every request also
//! checks that the key still exists, so revoking the key ends its sessions.
//!
//! The forms of a session carry its CSRF token, the MAC of the session id
//! under `tally-console-csrf:`; the sign-in form carries the MAC of a
//! random nonce kept in its own cookie (`tally-console-sign-in:`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tally_event::Timestamp;
use tally_store::{AccountId, ApiKeyId};

use super::{Console, page, redirect, render, unavailable};
use crate::PortalSecret;
use crate::token::{self, Purpose, TokenError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tally_console";
/// The sign-in form's nonce cookie's name.
pub const SIGN_IN_COOKIE: &str = "tally_console_sign_in";
/// How long a session lasts: eight hours, a working day.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// How long a sign-in form stays usable.
const SIGN_IN_SECONDS: i64 = 3600;
/// Random base62 characters of a session id or a sign-in nonce.
pub(super) const NONCE_CHARS: usize = 22;

/// What a session cookie grants: the account, through the key that signed
/// in, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The account the console shows.
    pub account_id: AccountId,
    /// The key that signed in; the session ends when it is revoked.
    pub key_id: ApiKeyId,
    /// Random, one per sign-in: what the CSRF token is derived from.
    pub session_id: String,
    /// The first instant the session is refused.
    pub expires_at: Timestamp,
}

impl SessionClaims {
    /// A new session of `key_id` in `account_id`, from `now` for
    /// [`SESSION_SECONDS`].
    pub fn start(account_id: AccountId, key_id: ApiKeyId, now: Timestamp) -> Self {
        let end = now.as_millis().saturating_add(SESSION_SECONDS * 1000);
        SessionClaims {
            account_id,
            key_id,
            session_id: nonce(),
            expires_at: Timestamp::from_millis(end).unwrap_or(now),
        }
    }
}

/// The cookie value of `claims`.
pub fn sign(secret: &PortalSecret, claims: &SessionClaims) -> String {
    let text = format!(
        "{}.{}.{}.{}",
        claims.account_id,
        claims.key_id,
        claims.session_id,
        claims.expires_at.as_millis()
    );
    token::seal(secret, Purpose::ConsoleSession, &text)
}

/// The claims of a session cookie signed with `secret`, not expired at `now`.
pub fn verify(
    secret: &PortalSecret,
    cookie: &str,
    now: Timestamp,
) -> Result<SessionClaims, TokenError> {
    let text = token::open(secret, Purpose::ConsoleSession, cookie)?;
    let claims = decode(&text).ok_or(TokenError::Malformed)?;
    if now >= claims.expires_at {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn decode(text: &str) -> Option<SessionClaims> {
    let mut parts = text.split('.');
    let account_id = AccountId::parse(parts.next()?).ok()?;
    let key_id = ApiKeyId::parse(parts.next()?).ok()?;
    let session_id = parts.next()?.to_owned();
    let expires_at = Timestamp::from_millis(parts.next()?.parse().ok()?).ok()?;
    parts.next().is_none().then_some(SessionClaims {
        account_id,
        key_id,
        session_id,
        expires_at,
    })
}

/// The CSRF token of the forms of the session `session_id`.
pub fn csrf_token(secret: &PortalSecret, session_id: &str) -> String {
    token::tag(secret, Purpose::ConsoleCsrf, session_id)
}

/// The CSRF token of a sign-in form whose cookie holds `nonce`.
pub fn sign_in_token(secret: &PortalSecret, nonce: &str) -> String {
    token::tag(secret, Purpose::SignInCsrf, nonce)
}

/// Whether `sent` is the sign-in token of `nonce`.
pub(super) fn sign_in_token_matches(secret: &PortalSecret, nonce: &str, sent: &str) -> bool {
    token::tag_matches(secret, Purpose::SignInCsrf, nonce, sent) == Ok(true)
}

/// A random session id or sign-in nonce.
pub(super) fn nonce() -> String {
    tally_store::ids::random_base62(&mut rand::rng(), NONCE_CHARS)
}

/// The value of the cookie `name` the request carries, if any.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Which cookie a `Set-Cookie` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cookie {
    Session,
    SignIn,
}

impl Cookie {
    fn name(self) -> &'static str {
        match self {
            Cookie::Session => SESSION_COOKIE,
            Cookie::SignIn => SIGN_IN_COOKIE,
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Cookie::Session => SESSION_SECONDS,
            Cookie::SignIn => SIGN_IN_SECONDS,
        }
    }
}

/// Adds a `Set-Cookie` that stores `value` in `cookie`, or clears it when
/// `value` is `None`. Only the console's pages receive it, never a script.
pub(super) fn set_cookie(
    response: &mut Response,
    console: &Console,
    cookie: Cookie,
    value: Option<&str>,
) {
    let max_age = if value.is_some() { cookie.seconds() } else { 0 };
    let secure = if console.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie.name(),
        value.unwrap_or_default()
    );
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A signed-in operator: a request whose session cookie is signed, not
/// expired, and whose key still exists. Without one, a request is sent to
/// the sign-in form (its bad cookie cleared).
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) claims: SessionClaims,
    /// The CSRF token its forms carry.
    pub(super) csrf: String,
}

/// Why a request has no session.
pub(super) enum NoSession {
    /// No cookie, or one that is refused: sign in again.
    SignedOut,
    /// The key could not be checked.
    Unavailable(tally_billing::BillingError),
}

impl Session {
    /// The session of a request's headers.
    pub(super) async fn of(console: &Console, headers: &HeaderMap) -> Result<Self, NoSession> {
        let cookie = cookie(headers, SESSION_COOKIE).ok_or(NoSession::SignedOut)?;
        let claims = verify(console.secret(), cookie, console.billing.now()).map_err(|reason| {
            tracing::info!(%reason, "console session refused");
            NoSession::SignedOut
        })?;
        match console
            .billing
            .has_api_key(&claims.account_id, &claims.key_id)
            .await
        {
            Ok(true) => Ok(Session {
                csrf: csrf_token(console.secret(), &claims.session_id),
                claims,
            }),
            Ok(false) => {
                tracing::info!(key_id = %claims.key_id, "console session of a revoked key");
                Err(NoSession::SignedOut)
            }
            Err(error) => Err(NoSession::Unavailable(error)),
        }
    }

    /// The account the console shows.
    pub(super) fn account(&self) -> &AccountId {
        &self.claims.account_id
    }

    /// Whether `sent` is this session's CSRF token.
    pub(super) fn csrf_matches(&self, console: &Console, sent: &str) -> bool {
        let session_id = &self.claims.session_id;
        token::tag_matches(console.secret(), Purpose::ConsoleCsrf, session_id, sent) == Ok(true)
    }
}

/// The answer (`403`) to a form without its session's CSRF token.
pub(super) fn form_refused() -> Response {
    page(
        StatusCode::FORBIDDEN,
        render::message(
            "Form refused",
            "This form did not come from your console session, or it has expired. \
             Go back, reload the page and try again.",
        ),
    )
}

impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        match Session::of(console, &parts.headers).await {
            Ok(session) => Ok(session),
            Err(NoSession::SignedOut) => Err(signed_out(console, &parts.headers)),
            Err(NoSession::Unavailable(error)) => Err(unavailable(&error)),
        }
    }
}

/// To the sign-in form, clearing a session cookie the request carried.
fn signed_out(console: &Console, headers: &HeaderMap) -> Response {
    let mut response = redirect(super::SIGN_IN_PATH);
    if cookie(headers, SESSION_COOKIE).is_some() {
        set_cookie(&mut response, console, Cookie::Session, None);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortalClaims;
    use tally_store::CustomerId;

    const NOW: i64 = 1_734_739_200_000;

    fn secret(text: &str) -> PortalSecret {
        PortalSecret::from_text(&text.repeat(32)).unwrap()
    }

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis).unwrap()
    }

    fn claims() -> SessionClaims {
        SessionClaims::start(
            AccountId::parse("acc_aaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            ApiKeyId::parse("key_bbbbbbbbbbbbbbbbbbbbbb").unwrap(),
            at(NOW),
        )
    }

    #[test]
    fn a_session_verifies_until_its_expiry() {
        let claims = claims();
        assert_eq!(claims.expires_at, at(NOW + SESSION_SECONDS * 1000));
        let cookie = sign(&secret("k"), &claims);
        assert_eq!(verify(&secret("k"), &cookie, at(NOW)), Ok(claims.clone()));
        let end = claims.expires_at.as_millis();
        assert!(verify(&secret("k"), &cookie, at(end - 1)).is_ok());
        assert_eq!(
            verify(&secret("k"), &cookie, at(end)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&secret("other"), &cookie, at(NOW)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn sessions_and_portal_links_are_never_each_other() {
        let secret = secret("k");
        let link = token::sign(
            &secret,
            &PortalClaims {
                account_id: AccountId::parse("acc_aaaaaaaaaaaaaaaaaaaaaa").unwrap(),
                customer_id: CustomerId::parse("cus_cccccccccccccccccccccc").unwrap(),
                expires_at: at(NOW + 1000),
            },
        );
        assert_eq!(verify(&secret, &link, at(NOW)), Err(TokenError::Signature));
        let session = sign(&secret, &claims());
        assert_eq!(
            token::verify(&secret, &session, at(NOW)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_session_and_one_purpose() {
        let secret = secret("k");
        let (one, two) = (claims(), claims());
        assert_ne!(one.session_id, two.session_id);
        let token = csrf_token(&secret, &one.session_id);
        assert_eq!(token, csrf_token(&secret, &one.session_id));
        assert_ne!(token, csrf_token(&secret, &two.session_id));
        // A sign-in token over the same text is another value.
        assert_ne!(token, sign_in_token(&secret, &one.session_id));
        assert!(sign_in_token_matches(
            &secret,
            "nonce",
            &sign_in_token(&secret, "nonce")
        ));
        assert!(!sign_in_token_matches(&secret, "nonce", &token));
        assert!(!sign_in_token_matches(&secret, "nonce", "not base64!"));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tally_console=x.y"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("tally_console_sign_in=n"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("x.y"));
        assert_eq!(cookie(&headers, SIGN_IN_COOKIE), Some("n"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
