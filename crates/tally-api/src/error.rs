//! `ApiError`: the one error type of every handler, extractor and middleware.
//!
//! [`ErrorCode`] (billing's) lists every kind of failure; [`ErrorStatus`] is the
//! one table that maps them to HTTP statuses. Every error body has the same
//! shape, `{"message", "code", "errors": [{path, code, message}]}`. A 500 carries a
//! fixed message: its cause travels in the response extensions ([`InternalCause`])
//! to the observing middleware, which logs it with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
pub use tally_billing::ErrorCode;
use tally_billing::{BillingError, Problem};
use tally_store::StoreError;
use utoipa::ToSchema;

/// The status of each code: the only place statuses are chosen for errors.
/// The codes themselves are billing's one table ([`ErrorCode`]), so a code
/// means the same on the command line and over HTTP.
pub trait ErrorStatus {
    /// The HTTP status the API answers with.
    fn status(self) -> StatusCode;
}

impl ErrorStatus for ErrorCode {
    fn status(self) -> StatusCode {
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
    /// Every problem found: for `invalid_request`, a `not_found` named by the
    /// body or the query, a `conflict` on a unique field, and the
    /// `malformed_json` of an event body; else empty.
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

    /// A 400 `malformed_json`: the body is not JSON; `detail` is the parser's
    /// message, with the line and column.
    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::MalformedJson,
            format!("malformed json: {detail}"),
        )
    }

    /// A 400 listing what is wrong with the shape of a JSON body.
    pub fn wrong_shape(errors: Vec<FieldError>) -> Self {
        Self::invalid("the request body does not have the expected shape", errors)
    }

    /// A 413: the body is over the route's limit.
    pub fn payload_too_large() -> Self {
        Self::new(ErrorCode::PayloadTooLarge, "request body is too large")
    }

    /// A 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "expected a body with content-type application/json",
        )
    }

    /// A 400: the body could not be read (the client stopped sending).
    pub fn unreadable_body() -> Self {
        Self::new(ErrorCode::InvalidRequest, "cannot read the request body")
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
    /// Keeps billing's code; only the message of a 500 or 503 is replaced, its
    /// text going to the log ([`InternalCause`]).
    fn from(error: BillingError) -> Self {
        let code = match &error {
            // An event body is parsed by the engine, which reports bad syntax as
            // one problem; it is still a malformed body to the client.
            BillingError::Invalid(problems)
                if problems.len() == 1 && problems[0].code == "malformed_json" =>
            {
                ErrorCode::MalformedJson
            }
            _ => error.code(),
        };
        let errors: Vec<FieldError> = error
            .problems()
            .iter()
            .cloned()
            .map(FieldError::from)
            .collect();
        match error {
            BillingError::Overloaded { retry_after } => ApiError::overloaded(retry_after),
            BillingError::Store(cause) if code == ErrorCode::Unavailable => {
                ApiError::unavailable(cause.to_string())
            }
            BillingError::Store(cause) => ApiError::internal(cause.to_string()),
            BillingError::Invalid(_) if code == ErrorCode::MalformedJson => {
                ApiError::new(code, "malformed json").with_errors(errors)
            }
            BillingError::Invalid(_) if code == ErrorCode::NotFound => {
                ApiError::new(code, "an object the request names does not exist")
                    .with_errors(errors)
            }
            BillingError::Invalid(_) => ApiError::invalid("the request is invalid", errors),
            BillingError::Taken {
                what,
                path,
                message,
            } => ApiError::new(code, format!("{what} conflict: {message}"))
                .with_errors(vec![FieldError::new(path, "already_exists", message)]),
            other => ApiError::new(code, other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    /// Through billing's translation, so a store error reads the same whether
    /// a use case or a handler met it.
    fn from(error: StoreError) -> Self {
        ApiError::from(BillingError::from(error))
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
    fn every_code_has_an_error_status() {
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
        let refused = ApiError::from(StoreError::InvalidInput("limit over 1000".into())).body();
        assert_eq!(refused.code, "invalid_request");
        assert_eq!(refused.errors[0].code, "invalid_input");
    }
}
