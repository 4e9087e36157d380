//! The account-scoped statements every catalog table runs the same way: one row
//! by (account, id), a page by account, a delete by (account, id). Each table
//! keeps its SQL in consts next to its code; these helpers only run it, so a
//! missing row is the same `NotFound` everywhere. Reads go to the reader pool,
//! deletes to the writer.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use tally_store::{AccountId, Page, PageRequest, StoreError, StoreResult};

use crate::error::db_err;
use crate::open::SqliteStore;

/// `NotFound` when a statement touched no row.
pub(crate) fn one_row(affected: u64, entity: &'static str) -> StoreResult<()> {
    if affected == 0 {
        return Err(StoreError::not_found(entity));
    }
    Ok(())
}

impl SqliteStore {
    /// Reads the one row a `SELECT … WHERE account_id = ?1 AND <key> = ?2`
    /// matches; no row is `NotFound` naming `entity`.
    pub(crate) async fn fetch_scoped<R, T>(
        &self,
        sql: &str,
        account: &AccountId,
        key: &str,
        entity: &'static str,
    ) -> StoreResult<T>
    where
        R: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let row: R = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(key)
            .fetch_one(&self.reader)
            .await
            .map_err(db_err(entity))?;
        row.try_into()
    }

    /// A page of one table: `count_sql` and `page_sql` take the account as
    /// ?1, and the page's LIMIT and OFFSET as ?2 and ?3.
    pub(crate) async fn page_scoped<R, T>(
        &self,
        (count_sql, page_sql): (&str, &str),
        account: &AccountId,
        page: PageRequest,
        entity: &'static str,
    ) -> StoreResult<Page<T>>
    where
        R: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let (limit, offset) = page.limit_offset()?;
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(account.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(db_err(entity))?;
        let rows: Vec<R> = sqlx::query_as(page_sql)
            .bind(account.as_str())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(entity))?;
        to_page(total, rows)
    }

    /// A page whose WHERE clause depends on optional filters, so both
    /// statements are built at run time: `count` is the complete
    /// `SELECT COUNT(*)`, `select` the complete page query with its LIMIT and
    /// OFFSET.
    pub(crate) async fn page_built<R, T>(
        &self,
        mut count: QueryBuilder<'_, Sqlite>,
        mut select: QueryBuilder<'_, Sqlite>,
        entity: &'static str,
    ) -> StoreResult<Page<T>>
    where
        R: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err(entity))?;
        let rows: Vec<R> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err(entity))?;
        to_page(total, rows)
    }

    /// Runs a `DELETE … WHERE account_id = ?1 AND id = ?2`; no row deleted is
    /// `NotFound`.
    pub(crate) async fn delete_scoped(
        &self,
        sql: &str,
        account: &AccountId,
        id: &str,
        entity: &'static str,
    ) -> StoreResult<()> {
        let done = sqlx::query(sql)
            .bind(account.as_str())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db_err(entity))?;
        one_row(done.rows_affected(), entity)
    }
}

/// The count and the page's rows as a `Page` of domain values.
fn to_page<R, T>(total: i64, rows: Vec<R>) -> StoreResult<Page<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<StoreResult<_>>()?;
    Ok(Page {
        total: u64::try_from(total).unwrap_or_default(),
        items,
    })
}
