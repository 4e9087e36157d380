//! `CustomerStore`, including the auto-create that concurrent events (from any
//! number of server processes) may race on.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rust_decimal::Decimal;
use tally_event::{CustomerRef, Timestamp};
use tally_store::{
    AccountId, Customer, CustomerId, CustomerStore, CustomerType, Page, PageRequest,
    ResolvedCustomer, StoreError, StoreResult, match_references,
};

use crate::rows::{corrupt, parse, timestamp};
use crate::scoped::found;
use crate::{PgStore, map_sqlx_error};

const INSERT: &str = "INSERT INTO customers \
     (account_id, id, external_id, name, type, currency, tax_rate, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The auto-create: losing a race on the external id is not an error, the
/// winner's row is read back instead.
const INSERT_AUTOMATIC: &str = "INSERT INTO customers \
     (account_id, id, external_id, name, type, currency, tax_rate, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT ON CONSTRAINT customers_external_id DO NOTHING \
     RETURNING id, external_id, name, type AS customer_type, currency, tax_rate, created_at";
const GET: &str = "SELECT id, external_id, name, type AS customer_type, currency, tax_rate, created_at \
     FROM customers WHERE account_id = $1 AND id = $2";
/// A reference names a customer by `cus_` id first, then by external id.
const BY_REFERENCE: &str = "SELECT id, external_id, name, type AS customer_type, currency, tax_rate, \
     created_at FROM customers WHERE account_id = $1 AND (id = $2 OR external_id = $2) \
     ORDER BY (id = $2) DESC LIMIT 1";
const LIST: &str = "SELECT id, external_id, name, type AS customer_type, currency, tax_rate, created_at \
     FROM customers WHERE account_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3";
const COUNT: &str = "SELECT count(*) FROM customers WHERE account_id = $1";
const UPDATE: &str = "UPDATE customers SET external_id = $3, name = $4, type = $5, \
     currency = $6, tax_rate = $7 WHERE account_id = $1 AND id = $2 \
     RETURNING id, external_id, name, type AS customer_type, currency, tax_rate, created_at";
const DELETE: &str = "DELETE FROM customers WHERE account_id = $1 AND id = $2";
/// Many auto-creates at once (`Customer::automatic` rows: no name, currency or
/// tax rate); a reference another writer created meanwhile returns no row.
const INSERT_AUTOMATIC_MANY: &str = "INSERT INTO customers \
     (account_id, id, external_id, name, type, currency, tax_rate, created_at) \
     SELECT $1, t.id, t.external_id, NULL, $4, NULL, NULL, $5 \
     FROM UNNEST($2::text[], $3::text[]) WITH ORDINALITY AS t (id, external_id, n) \
     ORDER BY t.n \
     ON CONFLICT ON CONSTRAINT customers_external_id DO NOTHING \
     RETURNING id, external_id, name, type AS customer_type, currency, tax_rate, created_at";
/// Every candidate of many references: by id or by external id.
const BY_REFERENCES: &str = "SELECT id, external_id, name, type AS customer_type, currency, \
tax_rate, created_at FROM customers \
WHERE account_id = $1 AND (id = ANY($2) OR external_id = ANY($2))";

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: String,
    external_id: Option<String>,
    name: Option<String>,
    customer_type: String,
    currency: Option<String>,
    tax_rate: Option<Decimal>,
    created_at: i64,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(row: CustomerRow) -> StoreResult<Self> {
        let customer_type = CustomerType::parse(&row.customer_type)
            .ok_or_else(|| corrupt("customers.type", &row.customer_type))?;
        Ok(Customer {
            id: parse(row.id, "customers.id")?,
            external_id: row.external_id,
            name: row.name,
            customer_type,
            currency: row.currency,
            tax_rate: row.tax_rate,
            created_at: timestamp(row.created_at, "customers.created_at")?,
        })
    }
}

impl PgStore {
    /// Inserts with `sql` (plain or auto-create); the auto-create returns `None`
    /// when another writer got the external id first.
    async fn insert_customer(
        &self,
        sql: &str,
        account: &AccountId,
        c: &Customer,
    ) -> StoreResult<Option<CustomerRow>> {
        sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(c.id.as_str())
            .bind(&c.external_id)
            .bind(&c.name)
            .bind(c.customer_type.as_str())
            .bind(&c.currency)
            .bind(c.tax_rate)
            .bind(c.created_at.as_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)
    }
}

#[async_trait]
impl CustomerStore for PgStore {
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        self.insert_customer(INSERT, account, customer).await?;
        Ok(customer.clone())
    }

    async fn get_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<Customer> {
        self.fetch_scoped::<CustomerRow, _>(GET, account, id.as_str(), "customer")
            .await
    }

    async fn find_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
    ) -> StoreResult<Option<Customer>> {
        let row: Option<CustomerRow> = sqlx::query_as(BY_REFERENCE)
            .bind(account.as_str())
            .bind(reference.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.map(Customer::try_from).transpose()
    }

    /// Every candidate in one query, matched in memory as `find_customer` would.
    async fn find_customers(
        &self,
        account: &AccountId,
        references: &[CustomerRef],
    ) -> StoreResult<Vec<(CustomerRef, Customer)>> {
        let texts: Vec<&str> = references.iter().map(CustomerRef::as_str).collect();
        let rows: Vec<CustomerRow> = sqlx::query_as(BY_REFERENCES)
            .bind(account.as_str())
            .bind(&texts)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        let candidates = rows
            .into_iter()
            .map(Customer::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(match_references(references, candidates))
    }

    /// What exists is found in one query; the rest is inserted in one
    /// statement that loses races quietly (`ON CONFLICT DO NOTHING`, which
    /// waits for the winner's commit), and the losers are read back.
    async fn resolve_or_create_customers(
        &self,
        account: &AccountId,
        wanted: &[(CustomerRef, CustomerId)],
        now: Timestamp,
    ) -> StoreResult<Vec<ResolvedCustomer>> {
        let references: Vec<CustomerRef> = wanted.iter().map(|(r, _)| r.clone()).collect();
        let mut known: HashMap<CustomerRef, (Customer, bool)> = self
            .find_customers(account, &references)
            .await?
            .into_iter()
            .map(|(reference, customer)| (reference, (customer, false)))
            .collect();
        let mut seen = HashSet::new();
        let mut missing: Vec<&(CustomerRef, CustomerId)> = wanted
            .iter()
            .filter(|(reference, _)| !known.contains_key(reference) && seen.insert(reference))
            .collect();
        // Inserted in byte order of the external id (the statement keeps the
        // arrays' order): two replicas creating the same customers wait on
        // each other in one order instead of deadlocking.
        missing.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        if !missing.is_empty() {
            let ids: Vec<&str> = missing.iter().map(|(_, id)| id.as_str()).collect();
            let externals: Vec<&str> = missing.iter().map(|(r, _)| r.as_str()).collect();
            let rows: Vec<CustomerRow> = sqlx::query_as(INSERT_AUTOMATIC_MANY)
                .bind(account.as_str())
                .bind(&ids)
                .bind(&externals)
                .bind(CustomerType::AutomaticallyCreated.as_str())
                .bind(now.as_millis())
                .fetch_all(&self.pool)
                .await
                .map_err(map_sqlx_error)?;
            for row in rows {
                let customer = Customer::try_from(row)?;
                if let Some(external) = customer.external_id.clone() {
                    let reference =
                        CustomerRef::parse(&external).map_err(|err| corrupt("customer", err))?;
                    known.insert(reference, (customer, true));
                }
            }
            let raced: Vec<CustomerRef> = missing
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| !known.contains_key(r))
                .collect();
            for (reference, customer) in self.find_customers(account, &raced).await? {
                known.insert(reference, (customer, false));
            }
        }
        // A reference repeated in `wanted` was created once: only its first
        // occurrence says so.
        wanted
            .iter()
            .map(|(reference, _)| {
                let (customer, created) = known
                    .get_mut(reference)
                    .ok_or_else(|| StoreError::Internal("auto-created customer vanished".into()))?;
                Ok(ResolvedCustomer {
                    customer: customer.clone(),
                    created: std::mem::take(created),
                })
            })
            .collect()
    }

    async fn resolve_or_create_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
        new_id: &CustomerId,
        now: Timestamp,
    ) -> StoreResult<ResolvedCustomer> {
        if let Some(customer) = self.find_customer(account, reference).await? {
            return Ok(ResolvedCustomer {
                customer,
                created: false,
            });
        }
        let automatic = Customer::automatic(new_id.clone(), reference.as_str(), now);
        if let Some(row) = self
            .insert_customer(INSERT_AUTOMATIC, account, &automatic)
            .await?
        {
            return Ok(ResolvedCustomer {
                customer: row.try_into()?,
                created: true,
            });
        }
        // Another writer created it between our read and our insert; DO NOTHING
        // waited for its commit, so this read sees it.
        let customer = self
            .find_customer(account, reference)
            .await?
            .ok_or_else(|| StoreError::Internal("auto-created customer vanished".into()))?;
        Ok(ResolvedCustomer {
            customer,
            created: false,
        })
    }

    async fn list_customers(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        self.page_scoped::<CustomerRow, _>((COUNT, LIST), account, &[], page)
            .await
    }

    async fn update_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        let row: Option<CustomerRow> = sqlx::query_as(UPDATE)
            .bind(account.as_str())
            .bind(customer.id.as_str())
            .bind(&customer.external_id)
            .bind(&customer.name)
            .bind(customer.customer_type.as_str())
            .bind(&customer.currency)
            .bind(customer.tax_rate)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        found(row, "customer")
    }

    async fn delete_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<()> {
        self.delete_scoped(DELETE, account, id.as_str(), "customer")
            .await
    }
}
