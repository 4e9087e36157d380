//! The one place where sqlx errors become store errors.

use tally_store::{INVOICE_PERIOD_TAKEN, StoreError};

/// SQLite extended result codes for constraint violations (sqlite3.h).
const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";
/// SQLITE_BUSY and SQLITE_LOCKED (primary codes, the low byte of extended
/// ones): another connection held the lock past the busy timeout; retrying later
/// may succeed.
const BUSY_PRIMARY_CODES: [i64; 2] = [5, 6];

fn is_busy(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|code| BUSY_PRIMARY_CODES.contains(&(code & 0xff)))
}

/// SQLite names a violated unique constraint by its columns only
/// (`UNIQUE constraint failed: t.a, t.b`); the invoice constraints that a
/// caller must tell apart get a reason of their own.
const UNIQUE_REASONS: [(&str, &str); 5] = [
    (
        "invoices.account_id, invoices.subscription_id, invoices.period_start, invoices.period_end",
        INVOICE_PERIOD_TAKEN,
    ),
    (
        "invoices.account_id, invoices.number",
        "invoice number already taken",
    ),
    (
        "customers.account_id, customers.external_id",
        "external id already exists",
    ),
    ("accounts.name", "name already exists"),
    ("features.account_id, features.code", "code already exists"),
];

/// The reason of a unique violation, in the words the PostgreSQL store uses;
/// never SQLite's own text.
fn conflict_reason(message: &str) -> String {
    let columns = message.strip_prefix("UNIQUE constraint failed: ");
    UNIQUE_REASONS
        .iter()
        .find(|(known, _)| columns == Some(*known))
        .map_or_else(
            || "id already exists".to_owned(),
            |(_, reason)| (*reason).to_owned(),
        )
}

/// Maps a sqlx error to a transport-agnostic store error. `entity` names what
/// the failing statement wrote, for conflicts.
pub fn map_sqlx_error(entity: &'static str, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::not_found(entity),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE {
                StoreError::conflict(entity, conflict_reason(db.message()))
            } else if is_busy(&code) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Internal(format!("sqlite: {}", db.message()))
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

/// `map_err` adaptor: `.map_err(db_err("customer"))`.
pub fn db_err(entity: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| map_sqlx_error(entity, error)
}

/// A stored value that does not decode: the row is corrupt.
pub fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_unique_violations_say_which() {
        let period = "UNIQUE constraint failed: invoices.account_id, invoices.subscription_id, \
                      invoices.period_start, invoices.period_end";
        assert_eq!(conflict_reason(period), INVOICE_PERIOD_TAKEN);
        let number = "UNIQUE constraint failed: invoices.account_id, invoices.number";
        assert_eq!(conflict_reason(number), "invoice number already taken");
        // Any other uniqueness: a reason in our words, never the database's text.
        let id = "UNIQUE constraint failed: invoices.account_id, invoices.id";
        assert_eq!(conflict_reason(id), "id already exists");
    }
}
