//! `BillingError`: the one error of every use case, free of transport details.

use std::fmt;

use serde::Serialize;
use tally_store::StoreError;

/// The result of every use case.
pub type BillingResult<T> = Result<T, BillingError>;

/// One problem with a request: where (a JSON pointer into the request body, or
/// `/name` for a query parameter `name`), what (a stable snake_case code) and a
/// lowercase human message. Codes come from the validating crate when it has one
/// (`tally-event`, `tally-aggregate`, `tally-pricing`), otherwise from this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A JSON pointer into the input (`/price_groups/0/price/tiers/1/up_to`), or `/name` for
    /// the query parameter `name`.
    pub path: String,
    /// A stable snake_case code (`required`, `out_of_range`, `nested_object`).
    pub code: &'static str,
    /// A lowercase human message, without a trailing period.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            code,
            message: message.into(),
        }
    }

    /// Whether the problem is an object the request names that does not exist
    /// (`customer_not_found`, `unknown_filter`): the request is well formed,
    /// the account does not hold what it refers to.
    pub fn names_a_missing_object(&self) -> bool {
        self.code.ends_with("_not_found") || self.code == "unknown_filter"
    }

    /// The same problem seen from an enclosing document: `/tiers/0` under
    /// `/price_groups/1/price` becomes `/price_groups/1/price/tiers/0`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = format!("{prefix}{}", self.path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.path, self.code, self.message)
    }
}

/// Every kind of failure Tally reports, with its stable wire code: the one
/// table shared by the use cases, the command line and the HTTP API, which
/// only adds a status to each (`tally_api::error`). The first seven come from
/// [`BillingError::code`]; the others are the transport's own (a body that is
/// not JSON, a missing key, a rate limit) and are listed here so that one enum
/// names every code a client can meet (`docs/API.md`, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A request value failed validation; the problems say where and why.
    InvalidRequest,
    /// Valid input whose quantity or amount cannot be computed (a formula
    /// divided by zero, an amount out of range).
    EvaluationFailed,
    /// No such object in this account (or only in another account).
    NotFound,
    /// A uniqueness or state rule refused the write.
    Conflict,
    /// The ingestion queue is full; none of the events was stored.
    Overloaded,
    /// The store is unreachable or busy; the request may succeed later.
    Unavailable,
    /// A bug or an unexpected failure; details are only in the server log.
    Internal,
    /// The body is not parseable JSON.
    MalformedJson,
    /// No `Authorization: Bearer` header, or an unknown key.
    Unauthorized,
    /// No such route.
    RouteNotFound,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// The request's `Idempotency-Key` is still running its first request.
    IdempotencyKeyInFlight,
    /// The request's `Idempotency-Key` was used for another request.
    IdempotencyKeyReused,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The key spent its request budget.
    RateLimited,
}

impl ErrorCode {
    /// The wire code (`invalid_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::EvaluationFailed => "evaluation_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
        }
    }

    /// Every code, for documentation and table tests.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidRequest,
        ErrorCode::EvaluationFailed,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Overloaded,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::MalformedJson,
        ErrorCode::Unauthorized,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyKeyInFlight,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a use case failed, free of transport details; [`BillingError::code`]
/// gives its [`ErrorCode`]. A store error is translated once, here: its
/// `NotFound`, `Conflict` and `Aggregation` become this enum's own variants,
/// a value the store refuses becomes an `Invalid` problem (`invalid_input`),
/// so a store never shows a code of its own to a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BillingError {
    /// The request is wrong; every problem found is listed.
    #[error("invalid request: {}", ProblemList(.0))]
    Invalid(Vec<Problem>),
    /// The object does not exist in this account (or only in another one).
    #[error("{what} not found")]
    NotFound {
        /// The kind of object (`customer`, `invoice`, `price_group`).
        what: &'static str,
    },
    /// A uniqueness or state rule refused the change.
    #[error("{what} conflict: {reason}")]
    Conflict {
        /// The kind of object (`customer`, `invoice`).
        what: &'static str,
        /// Which rule refused it, lowercase; for an invoice period taken, it
        /// names the existing invoice.
        reason: String,
    },
    /// A value that must be unique in the account is taken (a customer's
    /// `external_id`): a conflict that names the field.
    #[error("{what} conflict: {message}")]
    Taken {
        /// The kind of object (`customer`).
        what: &'static str,
        /// JSON pointer of the field in the request (`/external_id`).
        path: String,
        /// Lowercase, naming the value.
        message: String,
    },
    /// Computing a quantity or an amount failed on valid input: a formula divided
    /// by zero, a sum or a price left the decimal range.
    #[error("evaluation failed: {0}")]
    Evaluation(String),
    /// The ingestion queue is full: none of the request's events was stored
    /// (customers it named may have been created, as `auto_create_customers`
    /// allows, before the queue was asked); retry after `retry_after` (group
    /// commit, `commit.rs`).
    #[error("ingestion queue full, retry after {}s", .retry_after.as_secs())]
    Overloaded {
        /// How long the caller should wait before sending the events again.
        retry_after: std::time::Duration,
    },
    /// Storage failed for another reason.
    #[error(transparent)]
    Store(StoreError),
}

impl BillingError {
    /// A single problem.
    pub fn invalid(
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        BillingError::Invalid(vec![Problem::new(path, code, message)])
    }

    /// `NotFound` for a kind of object (`customer`).
    pub fn not_found(what: &'static str) -> Self {
        BillingError::NotFound { what }
    }

    /// `Conflict` on a kind of object, with the rule that refused the change.
    pub fn conflict(what: &'static str, reason: impl Into<String>) -> Self {
        BillingError::Conflict {
            what,
            reason: reason.into(),
        }
    }

    /// The code of the failure, for logs, the command line and API bodies.
    pub fn code(&self) -> ErrorCode {
        match self {
            // Only missing objects named in the body or the query: a 404 whose
            // problems say which (docs/API.md, "Errors").
            BillingError::Invalid(problems)
                if !problems.is_empty() && problems.iter().all(Problem::names_a_missing_object) =>
            {
                ErrorCode::NotFound
            }
            BillingError::Invalid(_) => ErrorCode::InvalidRequest,
            BillingError::NotFound { .. } => ErrorCode::NotFound,
            BillingError::Conflict { .. } | BillingError::Taken { .. } => ErrorCode::Conflict,
            BillingError::Evaluation(_) => ErrorCode::EvaluationFailed,
            BillingError::Overloaded { .. } => ErrorCode::Overloaded,
            BillingError::Store(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            // `From<StoreError>` turns every other kind a client could act on
            // into a variant above; what is left is a bug or corrupt data.
            BillingError::Store(_) => ErrorCode::Internal,
        }
    }

    /// The problems of an `Invalid` error, empty for the other kinds.
    pub fn problems(&self) -> &[Problem] {
        match self {
            BillingError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

impl From<StoreError> for BillingError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity } => BillingError::NotFound { what: entity },
            StoreError::Conflict { entity, reason } => BillingError::Conflict {
                what: entity,
                reason,
            },
            StoreError::Aggregation(message) => BillingError::Evaluation(message),
            StoreError::InvalidInput(reason) => {
                BillingError::Invalid(vec![Problem::new("", "invalid_input", reason)])
            }
            other => BillingError::Store(other),
        }
    }
}

impl From<tally_aggregate::EvalError> for BillingError {
    fn from(error: tally_aggregate::EvalError) -> Self {
        BillingError::Evaluation(error.to_string())
    }
}

impl From<tally_pricing::PricingError> for BillingError {
    fn from(error: tally_pricing::PricingError) -> Self {
        match error {
            tally_pricing::PricingError::Invalid(problems) => {
                BillingError::Invalid(problems.iter().map(from_pricing_problem).collect())
            }
            other => BillingError::Evaluation(other.to_string()),
        }
    }
}

pub(crate) fn from_pricing_problem(problem: &tally_pricing::Problem) -> Problem {
    Problem::new(
        problem.path.clone(),
        problem.code.as_str(),
        problem.message.clone(),
    )
}

/// Collects problems while validating a request, then gives one error or none.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn push(
        &mut self,
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(Problem::new(path, code, message));
    }

    pub(crate) fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.0.extend(problems);
    }

    /// `value` when nothing was wrong; otherwise every problem (a parse that
    /// gave `None` pushed one).
    pub(crate) fn finish_with<T>(self, value: Option<T>) -> BillingResult<T> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(BillingError::Invalid(self.0)),
        }
    }

    pub(crate) fn finish(self) -> BillingResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(BillingError::Invalid(self.0))
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_kind() {
        let not_found = BillingError::from(StoreError::not_found("customer"));
        assert!(matches!(
            not_found,
            BillingError::NotFound { what: "customer" }
        ));
        let conflict = BillingError::from(StoreError::conflict("customer", "external id taken"));
        assert_eq!(conflict.code(), ErrorCode::Conflict);
        let failed = BillingError::from(StoreError::Aggregation("division by zero".into()));
        assert_eq!(failed.code(), ErrorCode::EvaluationFailed);
        let down = BillingError::from(StoreError::Unavailable("busy".into()));
        assert_eq!(down.code(), ErrorCode::Unavailable);
        let refused = BillingError::from(StoreError::InvalidInput("page too large".into()));
        assert_eq!(refused.code(), ErrorCode::InvalidRequest);
        assert_eq!(refused.problems()[0].code, "invalid_input");
        let corrupt = BillingError::from(StoreError::Corrupt("bad row".into()));
        assert_eq!(corrupt.code(), ErrorCode::Internal);
    }

    /// Every variant's place in `ALL`: the match is exhaustive, so a new
    /// variant does not compile until it is given one.
    fn place(code: ErrorCode) -> usize {
        match code {
            ErrorCode::InvalidRequest => 0,
            ErrorCode::EvaluationFailed => 1,
            ErrorCode::NotFound => 2,
            ErrorCode::Conflict => 3,
            ErrorCode::Overloaded => 4,
            ErrorCode::Unavailable => 5,
            ErrorCode::Internal => 6,
            ErrorCode::MalformedJson => 7,
            ErrorCode::Unauthorized => 8,
            ErrorCode::RouteNotFound => 9,
            ErrorCode::MethodNotAllowed => 10,
            ErrorCode::IdempotencyKeyInFlight => 11,
            ErrorCode::IdempotencyKeyReused => 12,
            ErrorCode::PayloadTooLarge => 13,
            ErrorCode::UnsupportedMediaType => 14,
            ErrorCode::RateLimited => 15,
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        for (index, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(place(*code), index, "{code:?}");
        }
    }

    #[test]
    fn every_code_has_a_distinct_wire_name() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn invalid_lists_its_problems() {
        let error = BillingError::Invalid(vec![
            Problem::new("/a", "required", "this field is required"),
            Problem::new("/b", "too_long", "must be at most 255 characters"),
        ]);
        assert_eq!(error.code(), ErrorCode::InvalidRequest);
        assert_eq!(error.problems().len(), 2);
        let missing = BillingError::Invalid(vec![
            Problem::new(
                "/customer_id",
                "customer_not_found",
                "no customer has this id",
            ),
            Problem::new(
                "/product_ids/0",
                "product_not_found",
                "no product has this id",
            ),
        ]);
        assert_eq!(missing.code(), ErrorCode::NotFound, "only missing objects");
        let mixed = BillingError::Invalid(vec![
            Problem::new(
                "/customer_id",
                "customer_not_found",
                "no customer has this id",
            ),
            Problem::new(
                "/tax_rate",
                "out_of_range",
                "tax_rate must be between 0 and 100",
            ),
        ]);
        assert_eq!(mixed.code(), ErrorCode::InvalidRequest, "a bad value too");
        assert_eq!(
            error.to_string(),
            "invalid request: /a required: this field is required; /b too_long: must be at most 255 characters"
        );
    }
}
