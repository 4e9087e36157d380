//! `ApiError`: the one error type of every handler, extractor and middleware.
//!
//! [`ErrorCode`] lists every kind of failure the API reports; [`ErrorCode::status`]
//! is the one table that maps them to HTTP statuses. Every error body has the same
//! shape, `{"message", "code", "errors": [{path, code, message}]}`. A 500 carries a
//! fixed message: its cause travels in the response extensions ([`InternalCause`])
//! to the observing middleware, which logs it with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tally_billing::{BillingError, Problem};
use tally_store::StoreError;
use utoipa::ToSchema;

/// Every failure the API reports, with its wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A request value failed validation; `errors` lists every problem.
    InvalidRequest,
    /// The body is not parseable JSON.
    MalformedJson,
    /// Valid input whose quantity or amount cannot be computed (a formula
    /// divided by zero, an amount out of range).
    EvaluationFailed,
    /// No `Authorization: Bearer` header, or an unknown key.
    Unauthorized,
    /// No such object in this account (or only in another account).
    NotFound,
    /// No such route.
    RouteNotFound,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// A uniqueness or state rule refused the write.
    Conflict,
    /// The request's `Idempotency-Key` is still running its first request.
    IdempotencyKeyInFlight,
    /// The request's `Idempotency-Key` was used for another request.
    IdempotencyKeyReused,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The key spent its request budget; retry after `Retry-After` seconds.
    RateLimited,
    /// The store is unreachable or busy; the request may succeed later.
    Unavailable,
    /// The ingestion queue is full; none of the events was stored (customers
    /// they named may have been created), retry after `Retry-After` seconds.
    Overloaded,
    /// A bug or an unexpected failure; details are only in the server log.
    Internal,
}

impl ErrorCode {
    /// The status of each code: the only place statuses are chosen for errors.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::MalformedJson | ErrorCode::EvaluationFailed => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::NotFound | ErrorCode::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::IdempotencyKeyInFlight => StatusCode::CONFLICT,
            ErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable | ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of the response body (`invalid_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::EvaluationFailed => "evaluation_failed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal",
        }
    }

    /// Every code, for the documentation and the table test.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidRequest,
        ErrorCode::MalformedJson,
        ErrorCode::EvaluationFailed,
        ErrorCode::Unauthorized,
        ErrorCode::NotFound,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyKeyInFlight,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
    ];
}

/// One problem with a request value: where (a JSON pointer into the body,
/// `/name` for the query parameter `name`, or a header's name such as
/// `Idempotency-Key`), a stable machine code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// A JSON pointer into the body (`/record/address`), `/name` for the query parameter
    /// `name`, or a header's name (`Idempotency-Key`).
    pub path: String,
    /// A stable snake_case code (`nested_object`).
    pub code: String,
    /// A lowercase human message.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(
        path: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A human summary, lowercase.
    pub message: String,
    /// The stable code of the failure (`invalid_request`, `not_found`, …).
    pub code: String,
    /// Every problem found, for `invalid_request` (and the `malformed_json` of an
    /// event body); else empty.
    pub errors: Vec<FieldError>,
}

/// The cause of a 500 or 503, handed to the observing middleware to log with
/// the request id; never written to the response body.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// An API failure: a code, a message, the problems behind it and extra headers.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    errors: Vec<FieldError>,
    retry_after_secs: Option<u64>,
    cause: Option<String>,
}

impl ApiError {
    /// An error with `code` (its status) and a lowercase message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            cause: None,
        }
    }

    /// A 400 listing every problem found.
    pub fn invalid(message: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_errors(errors)
    }

    /// A 404 for an `entity` (`customer`): absent, or another account's.
    pub fn not_found(entity: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{entity} not found"))
    }

    /// A 500 whose `cause` is logged, never shown.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }

    /// A 503 whose `cause` is logged, never shown.
    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorCode::Unavailable, "service unavailable, retry later")
        }
    }

    /// A 429 that tells the client when to retry (`Retry-After`, seconds).
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(ErrorCode::RateLimited, "rate limit exceeded")
        }
    }

    /// A 503 of a full ingestion queue, with `Retry-After` (at least 1 s).
    pub fn overloaded(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(
                ErrorCode::Overloaded,
                format!("ingestion queue full, retry after {secs}s"),
            )
        }
    }

    /// Replaces the problems listed in the body.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The code, hence the status.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The JSON body sent for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            code: self.code.as_str().to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

impl From<BillingError> for ApiError {
    fn from(error: BillingError) -> Self {
        match error {
            // An event body is parsed by the engine, which reports bad syntax as
            // one problem; it is still a malformed body to the client.
            BillingError::Invalid(problems)
                if problems.len() == 1 && problems[0].code == "malformed_json" =>
            {
                let errors: Vec<FieldError> = problems.into_iter().map(FieldError::from).collect();
                ApiError::new(ErrorCode::MalformedJson, "malformed json").with_errors(errors)
            }
            BillingError::Invalid(problems) => {
                let errors = problems.into_iter().map(FieldError::from).collect();
                ApiError::invalid("the request is invalid", errors)
            }
            BillingError::NotFound { what } => ApiError::not_found(what),
            BillingError::Conflict { what, reason } => {
                ApiError::new(ErrorCode::Conflict, format!("{what} conflict: {reason}"))
            }
            BillingError::Taken {
                what,
                path,
                message,
            } => ApiError::new(ErrorCode::Conflict, format!("{what} conflict: {message}"))
                .with_errors(vec![FieldError::new(path, "already_exists", message)]),
            BillingError::Evaluation(reason) => ApiError::new(
                ErrorCode::EvaluationFailed,
                format!("evaluation failed: {reason}"),
            ),
            BillingError::Overloaded { retry_after } => ApiError::overloaded(retry_after),
            BillingError::Store(error) => ApiError::from(error),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity } => ApiError::not_found(entity),
            StoreError::Conflict { entity, reason } => {
                ApiError::new(ErrorCode::Conflict, format!("{entity} conflict: {reason}"))
            }
            StoreError::InvalidInput(reason) => ApiError::new(
                ErrorCode::InvalidRequest,
                format!("invalid input: {reason}"),
            ),
            StoreError::Unavailable(reason) => ApiError::unavailable(reason),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<Problem> for FieldError {
    fn from(problem: Problem) -> Self {
        FieldError::new(problem.path, problem.code, problem.message)
    }
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_wire_name_and_an_error_status() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_500_hides_its_cause_in_the_extensions() {
        let response = ApiError::internal("disk on fire at /var/lib/tally").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response
            .extensions()
            .get::<InternalCause>()
            .map(|c| c.0.clone());
        assert_eq!(cause.as_deref(), Some("disk on fire at /var/lib/tally"));
        let body = ApiError::internal("disk on fire").body();
        assert_eq!(
            (body.message.as_str(), body.code.as_str()),
            ("internal error", "internal")
        );
    }

    #[test]
    fn overloaded_is_a_503_with_retry_after() {
        let error = BillingError::Overloaded {
            retry_after: std::time::Duration::from_millis(1500),
        };
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = ApiError::overloaded(std::time::Duration::ZERO).body();
        assert_eq!(body.code, "overloaded");
        assert_eq!(body.message, "ingestion queue full, retry after 1s");
    }

    #[test]
    fn store_errors_map_to_their_statuses() {
        let cases = [
            (StoreError::not_found("customer"), StatusCode::NOT_FOUND),
            (
                StoreError::conflict("customer", "taken"),
                StatusCode::CONFLICT,
            ),
            (
                StoreError::InvalidInput("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                StoreError::Unavailable("busy".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::Corrupt("row".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).code().status(), status);
        }
    }
}
