//! `CustomerStore` for SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use tally_event::{CustomerRef, Timestamp};
use tally_store::{
    AccountId, Customer, CustomerId, CustomerStore, Page, PageRequest, ResolvedCustomer,
    StoreResult, match_references,
};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::rows::{CustomerRow, decimal_text};
use crate::scoped::one_row;

const INSERT: &str = "\
INSERT INTO customers (account_id, id, external_id, name, type, currency, tax_rate, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const BY_ID: &str = "\
SELECT id, external_id, name, type, currency, tax_rate, created_at FROM customers
WHERE account_id = ?1 AND id = ?2";
/// A reference names a customer by id first, then by external id.
const BY_REFERENCE: &str = "\
SELECT id, external_id, name, type, currency, tax_rate, created_at FROM customers
WHERE account_id = ?1 AND (id = ?2 OR external_id = ?2)
ORDER BY id = ?2 DESC LIMIT 1";
const COUNT: &str = "SELECT COUNT(*) FROM customers WHERE account_id = ?1";
const PAGE: &str = "\
SELECT id, external_id, name, type, currency, tax_rate, created_at FROM customers
WHERE account_id = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3";
const UPDATE: &str = "\
UPDATE customers SET external_id = ?3, name = ?4, type = ?5, currency = ?6, tax_rate = ?7
WHERE account_id = ?1 AND id = ?2";
const DELETE: &str = "DELETE FROM customers WHERE account_id = ?1 AND id = ?2";
/// References per `find_customers` query (two binds each, far under SQLite's limit).
const REFERENCES_PER_QUERY: usize = 1_000;

async fn insert(
    conn: &mut sqlx::SqliteConnection,
    account: &AccountId,
    c: &Customer,
) -> StoreResult<()> {
    sqlx::query(INSERT)
        .bind(account.as_str())
        .bind(c.id.as_str())
        .bind(c.external_id.as_deref())
        .bind(c.name.as_deref())
        .bind(c.customer_type.as_str())
        .bind(c.currency.as_deref())
        .bind(decimal_text(c.tax_rate))
        .bind(c.created_at.as_millis())
        .execute(conn)
        .await
        .map_err(db_err("customer"))?;
    Ok(())
}

/// The customers `references` name, as `find_customer` decides it: every
/// candidate of a chunk in one query (the `id` and `external_id` indexes),
/// matched in memory.
async fn find_in(
    conn: &mut sqlx::SqliteConnection,
    account: &AccountId,
    references: &[CustomerRef],
) -> StoreResult<Vec<(CustomerRef, Customer)>> {
    let mut found = Vec::with_capacity(references.len());
    for chunk in references.chunks(REFERENCES_PER_QUERY) {
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, external_id, name, type, currency, tax_rate, created_at \
             FROM customers WHERE account_id = ",
        );
        query.push_bind(account.as_str()).push(" AND (id IN (");
        let mut list = query.separated(", ");
        for reference in chunk {
            list.push_bind(reference.as_str());
        }
        query.push(") OR external_id IN (");
        let mut list = query.separated(", ");
        for reference in chunk {
            list.push_bind(reference.as_str());
        }
        query.push("))");
        let rows: Vec<CustomerRow> = query
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("customer"))?;
        let candidates = rows
            .into_iter()
            .map(Customer::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        found.extend(match_references(chunk, candidates));
    }
    Ok(found)
}

async fn by_reference(
    conn: &mut sqlx::SqliteConnection,
    account: &AccountId,
    reference: &CustomerRef,
) -> StoreResult<Option<Customer>> {
    let row: Option<CustomerRow> = sqlx::query_as(BY_REFERENCE)
        .bind(account.as_str())
        .bind(reference.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_err("customer"))?;
    row.map(Customer::try_from).transpose()
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        let mut conn = self.writer.acquire().await.map_err(db_err("customer"))?;
        insert(&mut conn, account, customer).await?;
        Ok(customer.clone())
    }

    async fn get_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<Customer> {
        self.fetch_scoped::<CustomerRow, _>(BY_ID, account, id.as_str(), "customer")
            .await
    }

    async fn find_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
    ) -> StoreResult<Option<Customer>> {
        let mut conn = self.reader.acquire().await.map_err(db_err("customer"))?;
        by_reference(&mut conn, account, reference).await
    }

    async fn find_customers(
        &self,
        account: &AccountId,
        references: &[CustomerRef],
    ) -> StoreResult<Vec<(CustomerRef, Customer)>> {
        let mut conn = self.reader.acquire().await.map_err(db_err("customer"))?;
        find_in(&mut conn, account, references).await
    }

    /// Under one write lock: what exists is found, the rest is inserted, and
    /// the whole set commits once (one fsync for a batch's new customers).
    async fn resolve_or_create_customers(
        &self,
        account: &AccountId,
        wanted: &[(CustomerRef, CustomerId)],
        now: Timestamp,
    ) -> StoreResult<Vec<ResolvedCustomer>> {
        let references: Vec<CustomerRef> = wanted.iter().map(|(r, _)| r.clone()).collect();
        let mut tx = self.begin_write().await?;
        let mut known: HashMap<CustomerRef, Customer> = find_in(&mut tx, account, &references)
            .await?
            .into_iter()
            .collect();
        let mut resolved = Vec::with_capacity(wanted.len());
        for (reference, new_id) in wanted {
            if let Some(customer) = known.get(reference) {
                resolved.push(ResolvedCustomer {
                    customer: customer.clone(),
                    created: false,
                });
                continue;
            }
            let customer = Customer::automatic(new_id.clone(), reference.as_str(), now);
            insert(&mut tx, account, &customer).await?;
            known.insert(reference.clone(), customer.clone());
            resolved.push(ResolvedCustomer {
                customer,
                created: true,
            });
        }
        tx.commit().await.map_err(db_err("customer"))?;
        Ok(resolved)
    }

    async fn resolve_or_create_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
        new_id: &CustomerId,
        now: Timestamp,
    ) -> StoreResult<ResolvedCustomer> {
        // Fast path on a reader: the customer usually exists.
        if let Some(customer) = self.find_customer(account, reference).await? {
            return Ok(ResolvedCustomer {
                customer,
                created: false,
            });
        }
        // Look again and insert under the write lock: concurrent callers queue
        // on it, so the second one finds what the first created.
        let mut tx = self.begin_write().await?;
        if let Some(customer) = by_reference(&mut tx, account, reference).await? {
            return Ok(ResolvedCustomer {
                customer,
                created: false,
            });
        }
        let customer = Customer::automatic(new_id.clone(), reference.as_str(), now);
        insert(&mut tx, account, &customer).await?;
        tx.commit().await.map_err(db_err("customer"))?;
        Ok(ResolvedCustomer {
            customer,
            created: true,
        })
    }

    async fn list_customers(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        self.page_scoped::<CustomerRow, _>((COUNT, PAGE), account, page, "customer")
            .await
    }

    async fn update_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        let done = sqlx::query(UPDATE)
            .bind(account.as_str())
            .bind(customer.id.as_str())
            .bind(customer.external_id.as_deref())
            .bind(customer.name.as_deref())
            .bind(customer.customer_type.as_str())
            .bind(customer.currency.as_deref())
            .bind(decimal_text(customer.tax_rate))
            .execute(&self.writer)
            .await
            .map_err(db_err("customer"))?;
        one_row(done.rows_affected(), "customer")?;
        self.get_customer(account, &customer.id).await
    }

    async fn delete_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<()> {
        self.delete_scoped(DELETE, account, id.as_str(), "customer")
            .await
    }
}
