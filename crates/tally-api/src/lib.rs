//! Tally's HTTP API: the axum router, handlers, auth, rate limits, errors and OpenAPI.
//!
//! [`router`] builds the whole server over an [`AppState`] (the `tally-billing`
//! service and the [`ApiConfig`]); tests drive it in-process. Request and response
//! types live here; the core crates never see HTTP.
//!
//! - Errors: one [`ApiError`]; [`error::ErrorStatus`] is the one table of statuses,
//!   and every extractor's rejection is an `ApiError` too ([`extract`]).
//! - Everything under `/v1` needs `Authorization: Bearer <key>`; the key's account
//!   scopes every call, and its token bucket sets `X-RateLimit-*` ([`middleware`]).
//!   Failed authentications are limited per client address: serve the router
//!   with `into_make_service_with_connect_info::<SocketAddr>()`, or name a
//!   trusted proxy's header in [`ApiConfig::client_ip_header`].
//! - Every `POST` under `/v1` takes an optional `Idempotency-Key`: a retry with
//!   the key gets the first response again ([`idempotency`]).
//! - Every response carries `x-request-id` (echoed, or generated as `req_…`).
//! - [`openapi`] is generated from the same route registrations as the router, so
//!   the document lists exactly the routes served.
//!
//! To serve the API from a program of your own (`docs/EMBEDDING.md`), build the
//! router over a [`Billing`](tally_billing::Billing) and serve it with axum;
//! tests call it in-process:
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use tally_api::{ApiConfig, AppState, router};
//! use tally_billing::Billing;
//! use tally_store::MemoryStore;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let billing = Billing::new(Arc::new(MemoryStore::new()));
//! let app = router(AppState::new(billing, ApiConfig::default()));
//!
//! let health = Request::get("/healthz").body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(health).await?.status(), StatusCode::OK);
//! let without_key = Request::get("/v1/customers").body(Body::empty())?;
//! assert_eq!(app.oneshot(without_key).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod batch;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod keycache;
pub mod metrics;
pub mod middleware;
pub mod page;
pub mod ratelimit;
mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ApiResult, ErrorBody, ErrorCode, FieldError};
pub use ratelimit::{AuthFailureLimit, PageRateLimit, RateLimitConfig};
pub use state::{ApiConfig, AppState};

use crate::middleware::{MakeId, REQUEST_ID, authenticate, observe};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tally",
        description = "Usage-based billing: events, aggregators, products, subscriptions, usage and prices."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(
        ErrorBody,
        FieldError,
        // The `where` tree refers to itself: its parts are listed here
        // rather than found through it.
        routes::enums::FilterTree,
        routes::enums::FilterField,
        routes::enums::FilterCondition,
        routes::enums::Conditional,
        routes::enums::FilterOperator,
        routes::enums::ConditionValue,
        routes::enums::Scalar,
        // Named by query parameters, which do not collect their schemas.
        routes::enums::GroupBy,
        routes::enums::SortOrder,
        routes::webhooks::MessageStatusName,
        routes::wire::TimestampParam,
        routes::wire::EventTypeText,
        routes::wire::IdText,
        routes::wire::RecordIdList
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The authenticated routes, registered with their OpenAPI operations.
fn v1_routes() -> OpenApiRouter<AppState> {
    routes::v1()
}

/// The OpenAPI 3.1 document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1_routes())
        .merge(routes::system::routes())
        .split_for_parts();
    idempotency::document(&mut api);
    document_common_answers(&mut api);
    discriminate_price_models(&mut api);
    api.servers = Some(vec![utoipa::openapi::server::Server::new("/")]);
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api
}

/// Price models are told apart by their `type`: say so to generators. Each
/// model takes only its own fields, as its serde form does.
fn discriminate_price_models(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Discriminator, Schema};

    let Some(components) = api.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("PriceModelDef") {
        one_of.discriminator = Some(Discriminator::new("type"));
        for model in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = model {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// The answers every `/v1` operation can give whatever it does, declared on
/// each (an operation's own description of a status wins): a refused query
/// parameter or body (400), a missing or unknown key (401), a full bucket
/// (429), a store that cannot answer (503); for operations taking a body,
/// one too large (413) or not JSON (415); for operations that name objects
/// (by path, by an `_id` query parameter or in a body), one that does not
/// exist (404).
fn document_common_answers(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let answer = |description: &str| {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build(),
        )
    };
    let every = [
        (
            "400",
            "invalid request: an unknown query parameter or field, a bad value",
        ),
        ("401", "missing or unknown api key"),
        ("429", "rate limited: retry after `Retry-After` seconds"),
        ("503", "the store is unavailable or busy: retry"),
    ];
    let with_body = [
        ("413", "the body is over the size limit"),
        ("415", "the body is not `application/json`"),
    ];
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let takes_body = operation.request_body.is_some();
            let names_objects = takes_body
                || operation.parameters.iter().flatten().any(|parameter| {
                    parameter.parameter_in == ParameterIn::Path || parameter.name.ends_with("_id")
                });
            if names_objects {
                operation
                    .responses
                    .responses
                    .entry("404".to_owned())
                    .or_insert_with(|| {
                        answer(
                            "an object the request names does not exist; `errors` says \
                             which when the body or the query names it",
                        )
                    });
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in every {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| answer(description));
            }
            if takes_body {
                for (status, description) in with_body {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| answer(description));
                }
            }
        }
    }
}

/// The response to a panic: the one 500 body, its cause kept for the log.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

/// The whole server: `/v1` (authenticated, rate limited, `POST`s idempotent
/// under a key), `/healthz`, `/metrics`,
/// `/openapi.json`, the customer portal's pages under `/portal`
/// ([`tally_web::router`]) and the operator console under `/console`
/// ([`tally_web::console::router`]).
pub fn router(state: AppState) -> Router {
    let (v1, _) = v1_routes().split_for_parts();
    // Layers added later run first: authentication, then idempotency keys
    // (scoped by the account authentication found).
    let v1 = v1
        .route_layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        .route_layer(from_fn_with_state(state.clone(), authenticate));
    let (system, _) = routes::system::routes().split_for_parts();
    let body_limit = state.config().body_limit_bytes;
    // The portal's pages take no key: their signed token is the credential,
    // and the client's address bounds how many it may ask for.
    let portal = tally_web::router(state.billing().clone(), state.config().portal.clone())
        .route_layer(from_fn_with_state(state.clone(), middleware::limit_pages));
    // Nor do the console's: its signed session cookie is, after a sign-in
    // whose failures count with the failed keys of the client's address.
    let console =
        tally_web::console::router(state.billing().clone(), state.config().portal.clone())
            .route_layer(from_fn_with_state(
                state.clone(),
                middleware::limit_sign_ins,
            ))
            .route_layer(from_fn_with_state(state.clone(), middleware::limit_pages));
    Router::new()
        .merge(v1)
        .merge(system)
        .with_state(state.clone())
        .merge(portal)
        .merge(console)
        .fallback(routes::route_not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // A panic in a handler is a bug: it answers the one 500 body instead of
        // dropping the connection; `observe`, outside it, logs the cause with the
        // request id.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), observe))
        // One log line per request, inside the request id layers so it names it.
        .layer(middleware::request_log())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeId))
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::StatusCode;

    use super::panic_response;

    #[tokio::test]
    async fn a_panic_is_the_one_500_body_without_its_cause() {
        let response = panic_response(Box::new("index out of bounds: secret detail"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }
}
