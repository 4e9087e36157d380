//! Middleware: request ids, observation (span, metrics, 5xx causes), and
//! authentication with per-key rate limits for everything under `/v1`, and a
//! limit of failed authentications per client address (failed keys under
//! `/v1` and failed sign-ins to the console alike).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tally_store::{AccountId, ApiKeyHash};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::TraceLayer;
use tracing::{Instrument, Span};

use crate::error::{ApiError, ErrorCode, InternalCause};
use crate::ratelimit::Decision;
use crate::state::AppState;

/// The header carrying the request id, the client's or a generated `req_…`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Makes `req_` + 22 random base62 characters for requests that bring no id.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!(
            "req_{}",
            tally_store::ids::random_base62(&mut rand::rng(), 22)
        );
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Runs the request in a span carrying its id and route, counts it, and logs
/// the hidden cause of a server error with the request id.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("request", %request_id, %method, %route);
    let response = next.run(request).instrument(span).await;
    let status = response.status();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(%request_id, %method, %route, status = status.as_u16(), %cause, "request failed");
    }
    let elapsed = started.elapsed();
    state
        .metrics()
        .record_request(&route, &method, status.as_u16(), elapsed);
    response
}

/// The layer [`request_log`] builds.
pub type RequestLog = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> Span,
    (),
    fn(&Response, Duration, &Span),
    (),
    (),
    (),
>;

/// The request log: one `info` line per request, when its response starts,
/// with the method, the path, the request id (span fields), the status and
/// the latency in milliseconds (event fields). The server's `--log-format
/// json` writes the same line as JSON.
pub fn request_log() -> RequestLog {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request) -> Span)
        .on_request(())
        .on_response(log_response as fn(&Response, Duration, &Span))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %logged_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// The path as logged: a portal link's token is a credential, so its line
/// shows `{token}` in its place.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    tally_web::loggable_path(path)
}

fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis() as u64,
        "request"
    );
}

/// The account a request acts in, set by [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account(pub AccountId);

impl<S: Send + Sync> FromRequestParts<S> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Account>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing bearer api key"))
    }
}

/// Finds the account of the request's API key, applies its rate limit, and
/// reports the budget left in `X-RateLimit-*` headers. A client address that
/// has used up its failed authentications gets a 429 before its key is read.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    let client = client_address(&request, state.config().client_ip_header.as_ref());
    let failures = client.filter(|_| state.config().auth_failure_limit.max_failures > 0);
    if let Some(address) = &failures {
        let decision = state.auth_failures().peek(address, now);
        if !decision.allowed {
            return ApiError::rate_limited(decision.retry_after_secs).into_response();
        }
    }
    let found = match bearer_key(request.headers()) {
        Ok(secret) => {
            let hash = ApiKeyHash::of_secret(secret);
            account_of(&state, &hash, now)
                .await
                .map(|account| (hash, account))
        }
        Err(error) => Err(error),
    };
    let (hash, account) = match found {
        Ok(found) => found,
        Err(error) => {
            if let (Some(address), ErrorCode::Unauthorized) = (&failures, error.code()) {
                state.auth_failures().check(address, now);
            }
            return error.into_response();
        }
    };
    let decision = state.limiter().check(&hash, now);
    let mut response = if decision.allowed {
        request.extensions_mut().insert(Account(account));
        next.run(request).await
    } else {
        ApiError::rate_limited(decision.retry_after_secs).into_response()
    };
    rate_limit_headers(response.headers_mut(), &decision);
    response
}

/// Counts the console's failed sign-ins (a `401` from
/// `POST /console/sign-in`) in the budget of failed API keys of the client
/// address, and refuses a sign-in from an address that has spent it before
/// its key is read: a key guessed in a form costs what one guessed in a
/// header does.
pub async fn limit_sign_ins(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !tally_web::console::is_sign_in(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let now = Instant::now();
    let client = client_address(&request, state.config().client_ip_header.as_ref());
    let Some(address) = client.filter(|_| state.config().auth_failure_limit.max_failures > 0)
    else {
        return next.run(request).await;
    };
    let decision = state.auth_failures().peek(&address, now);
    if !decision.allowed {
        return tally_web::console::too_many_sign_ins(decision.retry_after_secs);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.auth_failures().check(&address, now);
    }
    response
}

/// Limits the portal's and the console's pages per client address
/// ([`PageRateLimit`](crate::PageRateLimit)): they take no API key, so the
/// key's rate limit cannot bound what they cost. Stylesheets are not
/// counted; a request with no known address is not limited.
pub async fn limit_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config().page_rate_limit.per_minute == 0 || request.uri().path().contains("/assets/") {
        return next.run(request).await;
    }
    let client = client_address(&request, state.config().client_ip_header.as_ref());
    let Some(address) = client else {
        return next.run(request).await;
    };
    let decision = state.pages().check(&address, Instant::now());
    if !decision.allowed {
        return tally_web::too_many_requests(decision.retry_after_secs);
    }
    next.run(request).await
}

/// The client's address: the last one of the trusted proxy's header when
/// configured and present, else the connection's peer. IPv6 addresses count
/// by their /64 prefix, the block one host usually holds.
fn client_address(request: &Request, header: Option<&HeaderName>) -> Option<IpAddr> {
    let forwarded = header
        .and_then(|name| request.headers().get(name))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    let peer = || {
        let ConnectInfo(address) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
        Some(address.ip())
    };
    forwarded.or_else(peer).map(address_block)
}

fn address_block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let block = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(block))
            }
        },
    }
}

/// The account of a key: from the cache, else from the store (then cached).
async fn account_of(
    state: &AppState,
    hash: &ApiKeyHash,
    now: Instant,
) -> Result<AccountId, ApiError> {
    if let Some(account) = state.keys().get(hash, now) {
        return Ok(account);
    }
    match state.store().find_api_key(hash).await? {
        Some(key) => {
            state
                .keys()
                .insert(hash.clone(), key.account_id.clone(), now);
            Ok(key.account_id)
        }
        None => Err(ApiError::new(ErrorCode::Unauthorized, "invalid api key")),
    }
}

fn bearer_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "missing bearer api key: send authorization: bearer <key>",
        )
    };
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, secret) = value.trim().split_once(' ').ok_or_else(missing)?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || secret.is_empty() {
        return Err(missing());
    }
    Ok(secret)
}

fn rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(decision.reset_secs));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: Option<&str>, forwarded: Option<&str>) -> Request {
        let mut request = Request::new(axum::body::Body::empty());
        if let Some(peer) = peer {
            let address: SocketAddr = peer.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(address));
        }
        if let Some(forwarded) = forwarded {
            let value = HeaderValue::from_str(forwarded).unwrap();
            request.headers_mut().insert("x-forwarded-for", value);
        }
        request
    }

    #[test]
    fn the_client_address_is_the_peer_or_the_trusted_header() {
        let header = HeaderName::from_static("x-forwarded-for");
        let check = |peer, forwarded, trusted: Option<&HeaderName>, expected: Option<&str>| {
            let got = client_address(&request(peer, forwarded), trusted);
            assert_eq!(
                got,
                expected.map(|e| e.parse().unwrap()),
                "{peer:?} {forwarded:?}"
            );
        };
        check(None, None, None, None);
        check(Some("192.0.2.1:4000"), None, None, Some("192.0.2.1"));
        // The header counts only when trusted, and its last address is the one
        // the proxy saw; a bad value falls back to the peer.
        check(
            Some("192.0.2.1:4000"),
            Some("203.0.113.9"),
            None,
            Some("192.0.2.1"),
        );
        check(
            None,
            Some("10.0.0.1, 203.0.113.9"),
            Some(&header),
            Some("203.0.113.9"),
        );
        check(
            Some("192.0.2.1:4000"),
            Some("nonsense"),
            Some(&header),
            Some("192.0.2.1"),
        );
        check(
            Some("[2001:db8:1:2:3:4:5:6]:80"),
            None,
            None,
            Some("2001:db8:1:2::"),
        );
        check(Some("[::ffff:192.0.2.7]:80"), None, None, Some("192.0.2.7"));
    }
}
