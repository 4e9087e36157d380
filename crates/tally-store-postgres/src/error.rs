//! The one place where sqlx errors become store errors.

use sqlx::error::{DatabaseError, ErrorKind};
use tally_store::{INVOICE_PERIOD_TAKEN, StoreError};

/// Maps any sqlx error to the transport-agnostic kind the API layer understands.
/// Uniqueness and foreign-key violations name the entity from the table, so
/// callers can use `?` everywhere.
pub fn map_sqlx_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => map_database_error(db.as_ref()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(err.to_string())
        }
        sqlx::Error::RowNotFound => StoreError::not_found("row"),
        other => StoreError::Internal(other.to_string()),
    }
}

fn map_database_error(db: &dyn DatabaseError) -> StoreError {
    let entity = entity_of(db.table());
    match db.kind() {
        ErrorKind::UniqueViolation => StoreError::conflict(entity, conflict_reason(db)),
        // Only api_keys references another table: its account.
        ErrorKind::ForeignKeyViolation => StoreError::not_found("account"),
        // The database's own words stay in the log of the 400's cause, never in
        // the answer: the message says what kind of value was refused.
        ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
            StoreError::InvalidInput(format!("a value breaks a rule of the {entity} table"))
        }
        _ => map_sqlstate(db),
    }
}

/// Classes of SQLSTATE that say "try again later" or "bad value".
fn map_sqlstate(db: &dyn DatabaseError) -> StoreError {
    let code = db.code().unwrap_or_default();
    let message = db.message().to_owned();
    match code.get(..2).unwrap_or_default() {
        // Connection exceptions, insufficient resources, operator intervention
        // (shutdown, cancelled), serialization failures and deadlocks.
        "08" | "53" | "57" | "40" => StoreError::Unavailable(message),
        // Data exceptions: a value the column cannot hold. The database's own
        // message (which may quote the value) stays out of the answer.
        "22" => StoreError::InvalidInput(format!(
            "a value the database cannot store (SQLSTATE {code})"
        )),
        _ => StoreError::Internal(format!("{code}: {message}")),
    }
}

fn entity_of(table: Option<&str>) -> &'static str {
    match table.unwrap_or_default() {
        "accounts" => "account",
        "api_keys" => "api key",
        "customers" => "customer",
        "event_versions" | "event_sequences" => "event",
        "aggregators" => "aggregator",
        "products" => "product",
        "subscriptions" => "subscription",
        "invoices" | "invoice_sequences" => "invoice",
        "idempotency_keys" => "idempotency key",
        "features" => "feature",
        "product_entitlements" | "customer_entitlements" => "entitlement",
        "threshold_states" => "threshold state",
        "webhook_endpoints" => "webhook endpoint",
        "webhook_events" => "webhook event",
        "webhook_messages" => "webhook message",
        "webhook_attempts" => "webhook attempt",
        _ => "object",
    }
}

fn conflict_reason(db: &dyn DatabaseError) -> &'static str {
    match db.constraint().unwrap_or_default() {
        "accounts_name_key" => "name already exists",
        "customers_external_id" => "external id already exists",
        "api_keys_hash_key" => "id or hash already exists",
        "invoices_number" => "invoice number already taken",
        "invoices_subscription_period" => INVOICE_PERIOD_TAKEN,
        "features_pkey" => "code already exists",
        _ => "id already exists",
    }
}
