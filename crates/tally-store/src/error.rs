//! `StoreError`: what any backend can report, free of transport details.

/// The result of every store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store call failed. Kinds are transport-agnostic: the API layer maps each
/// to a status (`NotFound` → 404, `Conflict` → 409, `InvalidInput` → 400,
/// `Unavailable` → 503, the rest → 500) and backends map their own driver errors
/// into them in one function.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist in this account (or exists only in another one:
    /// the two are indistinguishable on purpose).
    #[error("{entity} not found")]
    NotFound {
        /// The kind of object (`customer`, `invoice`).
        entity: &'static str,
    },
    /// A uniqueness or state rule refused the write (duplicate external id, id
    /// already taken, finalized invoice changed).
    #[error("{entity} conflict: {reason}")]
    Conflict {
        /// The kind of object (`customer`, `invoice`).
        entity: &'static str,
        /// Which rule refused it, lowercase (`external id taken`).
        reason: String,
    },
    /// The request cannot be stored as given (a value the schema refuses).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database cannot be reached or is busy; the call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row does not decode into its domain type.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Evaluating an aggregation failed (e.g. a formula divided by zero).
    #[error("aggregation failed: {0}")]
    Aggregation(String),
    /// Anything else: a bug or an unexpected database answer.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether this is the `Conflict` of an invoice whose subscription
    /// period already has one ([`crate::INVOICE_PERIOD_TAKEN`]).
    pub fn is_invoice_period_taken(&self) -> bool {
        matches!(self, StoreError::Conflict { reason, .. } if reason == crate::INVOICE_PERIOD_TAKEN)
    }

    /// `NotFound` for an `entity` (`customer`).
    pub fn not_found(entity: &'static str) -> Self {
        StoreError::NotFound { entity }
    }

    /// `Conflict` on an `entity`, with the rule that refused the write.
    pub fn conflict(entity: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Conflict {
            entity,
            reason: reason.into(),
        }
    }

    /// A stable machine code for the kind, for logs and API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Conflict { .. } => "conflict",
            StoreError::InvalidInput(_) => "invalid_input",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Aggregation(_) => "aggregation_failed",
            StoreError::Internal(_) => "internal",
        }
    }
}
