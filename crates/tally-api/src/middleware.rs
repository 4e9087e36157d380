//! Middleware: request ids, observation (span, metrics, 5xx causes), and
//! authentication with per-key rate limits for everything under `/v1`.

use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
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
        path = %request.uri().path(),
        request_id = %request_id,
    )
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
/// reports the budget left in `X-RateLimit-*` headers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let hash = match bearer_key(request.headers()) {
        Ok(secret) => ApiKeyHash::of_secret(secret),
        Err(error) => return error.into_response(),
    };
    let now = Instant::now();
    let account = match account_of(&state, &hash, now).await {
        Ok(account) => account,
        Err(error) => return error.into_response(),
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
