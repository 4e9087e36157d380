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

/// Why a use case failed. The kinds are transport-agnostic; the API maps them:
///
/// | variant      | `code()`                | suggested status |
/// |--------------|-------------------------|------------------|
/// | `Invalid`    | `invalid_request`       | 400, `errors` = the problems |
/// | `NotFound`   | `not_found`             | 404 |
/// | `Conflict`   | `conflict`              | 409 |
/// | `Evaluation` | `evaluation_failed`     | 400 (a formula divided by zero, an amount overflowed) |
/// | `Overloaded` | `overloaded`            | 503 with `Retry-After` (the ingestion queue is full) |
/// | `Store`      | the store's own code    | `invalid_input` 400, `unavailable` 503, others 500 |
///
/// A store `NotFound`, `Conflict` or `Aggregation` never appears as `Store`:
/// [`From<StoreError>`] turns them into this enum's own variants.
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

    /// A stable machine code for the kind, for logs and API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            BillingError::Invalid(_) => "invalid_request",
            BillingError::NotFound { .. } => "not_found",
            BillingError::Conflict { .. } | BillingError::Taken { .. } => "conflict",
            BillingError::Evaluation(_) => "evaluation_failed",
            BillingError::Overloaded { .. } => "overloaded",
            BillingError::Store(error) => error.code(),
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
        assert_eq!(conflict.code(), "conflict");
        let failed = BillingError::from(StoreError::Aggregation("division by zero".into()));
        assert_eq!(failed.code(), "evaluation_failed");
        let down = BillingError::from(StoreError::Unavailable("busy".into()));
        assert_eq!(down.code(), "unavailable");
    }

    #[test]
    fn invalid_lists_its_problems() {
        let error = BillingError::Invalid(vec![
            Problem::new("/a", "required", "this field is required"),
            Problem::new("/b", "too_long", "must be at most 255 characters"),
        ]);
        assert_eq!(error.code(), "invalid_request");
        assert_eq!(error.problems().len(), 2);
        assert_eq!(
            error.to_string(),
            "invalid request: /a required: this field is required; /b too_long: must be at most 255 characters"
        );
    }
}
