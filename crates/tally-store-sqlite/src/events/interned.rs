//! The interned numbers that name accounts, event types and customers in
//! event rows (docs/storage.md, "Lean event rows").
//!
//! The writer interns what a batch names before it writes the batch, in the
//! same transaction: a number exists exactly when a committed row may use it.
//! Reads never intern; they look names up inside their own statements
//! (`type_num = (SELECT num FROM event_types WHERE …)`), so a name never
//! stored matches no row.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteConnection};
use tally_store::{AccountId, CustomerId, NewEvent, StoreError, StoreResult};

use super::upsert::{repeated, statement_sizes};
use crate::error::db_err;

/// Numbers by account, then by name (event type or customer id).
type ByAccount = HashMap<String, HashMap<String, i64>>;

/// The numbers of what one batch names.
#[derive(Debug, Default)]
pub(crate) struct Interned {
    accounts: HashMap<String, i64>,
    types: ByAccount,
    customers: ByAccount,
    /// The account of each event type number (a found row names its type by number).
    type_accounts: HashMap<i64, String>,
}

/// One of the two per-account name tables.
#[derive(Clone, Copy)]
struct NameTable {
    table: &'static str,
    column: &'static str,
}

const EVENT_TYPES: NameTable = NameTable {
    table: "event_types",
    column: "name",
};
const EVENT_CUSTOMERS: NameTable = NameTable {
    table: "event_customers",
    column: "customer_id",
};

impl Interned {
    /// The numbers of every account, event type and customer of `groups`,
    /// created where missing.
    pub(crate) async fn of_groups(
        conn: &mut SqliteConnection,
        groups: &[(&AccountId, &[NewEvent])],
    ) -> StoreResult<Self> {
        let mut interned = Self::default();
        let mut types: Vec<(&str, &str)> = Vec::new();
        let mut customers: Vec<(&str, &str)> = Vec::new();
        for &(account, events) in groups {
            if !interned.accounts.contains_key(account.as_str()) {
                let num = intern_account(conn, account).await?;
                interned.accounts.insert(account.as_str().to_owned(), num);
            }
            for event in events {
                types.push((account.as_str(), event.event_type.as_str()));
                customers.push((account.as_str(), event.customer_id.as_str()));
            }
        }
        interned.types = intern_names(conn, EVENT_TYPES, types).await?;
        interned.customers = intern_names(conn, EVENT_CUSTOMERS, customers).await?;
        for (account, names) in &interned.types {
            for num in names.values() {
                interned.type_accounts.insert(*num, account.clone());
            }
        }
        Ok(interned)
    }

    pub(crate) fn account(&self, account: &AccountId) -> StoreResult<i64> {
        self.accounts
            .get(account.as_str())
            .copied()
            .ok_or_else(|| missing("account", account.as_str()))
    }

    pub(crate) fn event_type(&self, account: &AccountId, name: &str) -> StoreResult<i64> {
        lookup(&self.types, account, name).ok_or_else(|| missing("event type", name))
    }

    pub(crate) fn customer(&self, account: &AccountId, customer: &CustomerId) -> StoreResult<i64> {
        lookup(&self.customers, account, customer.as_str())
            .ok_or_else(|| missing("customer", customer.as_str()))
    }

    /// The account of an event type number of this batch.
    pub(crate) fn account_of_type(&self, type_num: i64) -> Option<&str> {
        self.type_accounts.get(&type_num).map(String::as_str)
    }
}

fn lookup(numbers: &ByAccount, account: &AccountId, name: &str) -> Option<i64> {
    numbers.get(account.as_str())?.get(name).copied()
}

fn missing(what: &str, name: &str) -> StoreError {
    StoreError::Internal(format!("{what} {name} was not interned for its batch"))
}

/// The account's number, created when it has none.
async fn intern_account(conn: &mut SqliteConnection, account: &AccountId) -> StoreResult<i64> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT num FROM event_accounts WHERE account_id = ?")
            .bind(account.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("event"))?;
    if let Some(num) = found {
        return Ok(num);
    }
    sqlx::query_scalar("INSERT INTO event_accounts (account_id) VALUES (?) RETURNING num")
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("event"))
}

/// The numbers of `(account, name)` pairs in `names`: looked up many per
/// statement, the missing ones inserted many per statement.
async fn intern_names(
    conn: &mut SqliteConnection,
    names: NameTable,
    mut pairs: Vec<(&str, &str)>,
) -> StoreResult<ByAccount> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut numbers = ByAccount::new();
    let select = format!(
        "SELECT num, account_id, {column} FROM {table} WHERE (account_id, {column}) IN (VALUES ",
        table = names.table,
        column = names.column,
    );
    run_chunks(conn, &select, ")", &pairs, &mut numbers).await?;
    let missing: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(account, name)| {
            numbers
                .get(*account)
                .is_none_or(|names| !names.contains_key(*name))
        })
        .copied()
        .collect();
    let insert = format!(
        "INSERT INTO {table} (account_id, {column}) VALUES ",
        table = names.table,
        column = names.column,
    );
    let returning = format!(" RETURNING num, account_id, {}", names.column);
    run_chunks(conn, &insert, &returning, &missing, &mut numbers).await?;
    Ok(numbers)
}

/// `head (?, ?), (?, ?)… tail` over `pairs` in chunks, each returned
/// `(num, account, name)` row added to `numbers`.
async fn run_chunks(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    pairs: &[(&str, &str)],
    numbers: &mut ByAccount,
) -> StoreResult<()> {
    let mut rest = pairs;
    for size in statement_sizes(pairs.len()) {
        let (chunk, tail_pairs) = rest.split_at(size);
        rest = tail_pairs;
        let sql = repeated(head, "(?, ?)", size, tail);
        let mut query = sqlx::query_as::<Sqlite, (i64, String, String)>(&sql);
        for (account, name) in chunk {
            query = query.bind(*account).bind(*name);
        }
        for (num, account, name) in query.fetch_all(&mut *conn).await.map_err(db_err("event"))? {
            numbers.entry(account).or_default().insert(name, num);
        }
    }
    Ok(())
}
