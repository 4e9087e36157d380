//! `Idempotency-Key` on every `POST` under `/v1`, with Stripe's semantics
//! (docs/API.md, "Idempotency").
//!
//! [`idempotency`] runs after authentication. A `POST` with the header claims
//! the key in the store (so every server sharing the database agrees), runs
//! the handler, and stores its response for replay; a retry of the same
//! request gets that response again with `Idempotent-Replayed: true`. A 5xx
//! is not stored: the claim is released so that a retry runs again. So is a
//! request cut short (the handler panicked, the client went away) and a
//! response body over [`MAX_STORED_RESPONSE_BYTES`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tally_event::Timestamp;
use tally_store::{
    AccountId, Claim, ClaimToken, IDEMPOTENCY_TTL_MS, IdempotencyKey, NewClaim, RequestHash, Store,
    StoredResponse,
};

use crate::error::{ApiError, ErrorCode, FieldError};
use crate::middleware::Account;
use crate::state::AppState;

/// The request header naming a key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set to `true` on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The largest response body stored for replay. `POST` answers are small JSON
/// objects (a batch's, with every failed event, stays well under it); a larger
/// body is sent but not stored, and its key is released.
pub const MAX_STORED_RESPONSE_BYTES: usize = 1024 * 1024;
/// How often a server deletes expired keys: the first keyed `POST` after this
/// delay starts the deletion in the background.
pub const CLEANUP_INTERVAL_MS: i64 = 10 * 60 * 1000;

/// The hash a retry must match: method, path and query, body.
pub fn request_hash(method: &Method, uri: &Uri, body: &[u8]) -> RequestHash {
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    RequestHash::of_parts(&[method.as_str().as_bytes(), target.as_bytes(), body])
}

/// Claims the request's key, runs the request, and stores or releases the
/// claim; requests other than a `POST` with the header pass through.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let key = match parse_key(value) {
        Ok(key) => key,
        Err(error) => return error.into_response(),
    };
    let Some(Account(account)) = request.extensions().get::<Account>().cloned() else {
        return ApiError::internal("idempotency runs before authentication").into_response();
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(body, &state).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let now = state.billing().now();
    let claim = NewClaim {
        key,
        request: request_hash(&parts.method, &parts.uri, &body),
        token: ClaimToken::random(),
        now,
    };
    let store = state.store();
    match store.claim_idempotency_key(&account, &claim).await {
        Ok(Claim::Claimed) => {}
        Ok(Claim::Replay(stored)) => return replay(stored),
        Ok(Claim::Mismatch) => return reused().into_response(),
        Ok(Claim::InFlight) => return in_flight().into_response(),
        Err(error) => return ApiError::from(error).into_response(),
    }
    state.idempotency_cleanup().maybe_run(store, now);
    let held = HeldClaim {
        store: Arc::clone(store),
        account,
        claim: Some(claim),
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    held.finish(response).await
}

fn parse_key(value: &HeaderValue) -> Result<IdempotencyKey, ApiError> {
    let text = value.to_str().map_err(|_| invalid_key())?;
    IdempotencyKey::parse(text).map_err(|_| invalid_key())
}

fn invalid_key() -> ApiError {
    let problem = FieldError::new(
        "Idempotency-Key",
        "invalid_idempotency_key",
        "must be 1 to 255 printable ascii characters",
    );
    ApiError::invalid("the idempotency key is invalid", vec![problem])
}

fn reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "this idempotency key was used for another request",
    )
}

fn in_flight() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyInFlight,
        "a request with this idempotency key is still running, retry later",
    )
}

/// The body, read whole to hash it (under the largest limit of any route:
/// the route's own limit applies when the handler reads it again).
async fn read_body(body: Body, state: &AppState) -> Result<Bytes, ApiError> {
    let config = state.config();
    let limit = config.body_limit_bytes.max(config.batch_body_limit_bytes);
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::payload_too_large()
        } else {
            ApiError::unreadable_body()
        }
    })
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(value) = stored
        .content_type
        .and_then(|text| HeaderValue::from_str(&text).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// A claim this request holds: completed with the response, or released. If
/// the request is dropped before either (a panic, a client gone), the drop
/// releases it in the background.
struct HeldClaim {
    store: Arc<dyn Store>,
    account: AccountId,
    claim: Option<NewClaim>,
}

impl HeldClaim {
    async fn finish(mut self, response: Response) -> Response {
        if response.status().is_server_error() {
            self.release().await;
            return response;
        }
        let (parts, body) = response.into_parts();
        match buffer(body).await {
            Buffered::Whole(bytes) => {
                let stored = StoredResponse {
                    status: parts.status.as_u16(),
                    content_type: content_type(&parts.headers),
                    body: bytes.to_vec(),
                };
                self.complete(&stored).await;
                Response::from_parts(parts, Body::from(bytes))
            }
            Buffered::TooLarge(body) => {
                self.release().await;
                Response::from_parts(parts, body)
            }
        }
    }

    async fn complete(&mut self, response: &StoredResponse) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let done = self
            .store
            .complete_idempotency_key(&self.account, &claim.key, &claim.token, response)
            .await;
        match done {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %claim.key, "idempotency claim lost before completion")
            }
            Err(error) => {
                tracing::warn!(key = %claim.key, %error, "cannot store the idempotent response")
            }
        }
    }

    async fn release(&mut self) {
        if let Some(claim) = self.claim.take() {
            release(self.store.as_ref(), &self.account, &claim).await;
        }
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, account) = (Arc::clone(&self.store), self.account.clone());
        runtime.spawn(async move { release(store.as_ref(), &account, &claim).await });
    }
}

async fn release(store: &dyn Store, account: &AccountId, claim: &NewClaim) {
    if let Err(error) = store
        .release_idempotency_key(account, &claim.key, &claim.token)
        .await
    {
        // The claim is abandoned: it frees itself after the in-flight timeout.
        tracing::warn!(key = %claim.key, %error, "cannot release an idempotency key");
    }
}

fn content_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    value.to_str().ok().map(str::to_owned)
}

enum Buffered {
    /// The whole body, within the limit.
    Whole(Bytes),
    /// Over the limit: what was read, then the rest, still to send.
    TooLarge(Body),
}

/// Reads the body up to [`MAX_STORED_RESPONSE_BYTES`]; past it, gives back a
/// body that sends what was read and then streams the rest. A body that fails
/// is given back as it failed, not stored.
async fn buffer(body: Body) -> Buffered {
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                read.extend_from_slice(&chunk);
                if read.len() > MAX_STORED_RESPONSE_BYTES {
                    let head = futures::stream::once(async { Ok(Bytes::from(read)) });
                    return Buffered::TooLarge(Body::from_stream(head.chain(stream)));
                }
            }
            Err(error) => {
                let head = futures::stream::iter([Ok(Bytes::from(read)), Err(error)]);
                return Buffered::TooLarge(Body::from_stream(head));
            }
        }
    }
    Buffered::Whole(Bytes::from(read))
}

/// When this server last started deleting expired keys (UTC milliseconds).
#[derive(Debug)]
pub struct Cleanup(AtomicI64);

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup(AtomicI64::new(i64::MIN))
    }
}

impl Cleanup {
    /// Starts deleting the expired keys of every account in the background,
    /// unless this server did so less than [`CLEANUP_INTERVAL_MS`] ago.
    /// Several servers may each run it: the deletion is idempotent, and
    /// claims ignore expired rows anyway.
    pub fn maybe_run(&self, store: &Arc<dyn Store>, now: Timestamp) {
        let last = self.0.load(Ordering::Relaxed);
        let due = now.as_millis().saturating_sub(last) >= CLEANUP_INTERVAL_MS;
        if !due
            || self
                .0
                .compare_exchange(last, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Ok(cutoff) = Timestamp::from_millis(now.as_millis() - IDEMPOTENCY_TTL_MS) else {
            return;
        };
        let store = Arc::clone(store);
        tokio::spawn(async move {
            match store.delete_expired_idempotency_keys(cutoff).await {
                Ok(deleted) => tracing::debug!(deleted, "expired idempotency keys deleted"),
                Err(error) => tracing::warn!(%error, "cannot delete expired idempotency keys"),
            }
        });
    }
}

/// Declares the optional `Idempotency-Key` header, and the `422` of a reused
/// key, on every `POST` under `/v1` of the OpenAPI document.
pub(crate) fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::ResponseBuilder;

    for (path, item) in api.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut().filter(|_| path.starts_with("/v1/")) else {
            continue;
        };
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(key_parameter());
        let reused = ResponseBuilder::new()
            .description("idempotency key used for another request (`idempotency_key_reused`)")
            .build();
        operation
            .responses
            .responses
            .entry("422".to_owned())
            .or_insert(RefOr::T(reused));
    }
}

fn key_parameter() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};

    // Printable ASCII; no space at either end, where HTTP would trim it.
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[!-~]([ -~]{0,253}[!-~])?$"));
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1 to 255 printable ASCII characters. A retry of the same request with the key \
             within 24 hours gets the first response again, with `Idempotent-Replayed: true`; \
             another request with it is a 422, and a retry while the first still runs a 409.",
        ))
        .schema(Some(schema))
        .build()
}
