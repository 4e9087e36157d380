//! The account-scoped statements every catalog table runs the same way: one row
//! by (account, id), a page by account, a delete by (account, id). Each table
//! keeps its SQL in consts next to its row struct; these helpers only run it,
//! so "no such row" becomes the same `NotFound` everywhere.

use sqlx::postgres::PgRow;
use tally_store::{AccountId, Page, PageRequest, StoreError, StoreResult};

use crate::rows::total;
use crate::{PgStore, map_sqlx_error};

/// What a get or an update-`RETURNING` read: `NotFound` naming `entity` when
/// nothing matched, else the row as its domain type.
pub(crate) fn found<R, T>(row: Option<R>, entity: &'static str) -> StoreResult<T>
where
    T: TryFrom<R, Error = StoreError>,
{
    row.ok_or(StoreError::not_found(entity))?.try_into()
}

impl PgStore {
    /// Runs a `SELECT … WHERE account_id = $1 AND <key column> = $2` that
    /// matches at most one row, so each get is one line.
    pub(crate) async fn fetch_scoped<R, T>(
        &self,
        sql: &str,
        account: &AccountId,
        key: &str,
        entity: &'static str,
    ) -> StoreResult<T>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let row: Option<R> = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        found(row, entity)
    }

    /// A page of one table: both statements take the account as $1 and then
    /// `filters` in order (a `None` filter matches everything); the page query
    /// takes LIMIT and OFFSET after them. The total counts every match, not
    /// only the page.
    pub(crate) async fn page_scoped<R, T>(
        &self,
        (count_sql, page_sql): (&str, &str),
        account: &AccountId,
        filters: &[Option<&str>],
        page: PageRequest,
    ) -> StoreResult<Page<T>>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        let (limit, offset) = page.limit_offset()?;
        let mut count = sqlx::query_scalar(count_sql).bind(account.as_str());
        let mut select = sqlx::query_as(page_sql).bind(account.as_str());
        for filter in filters {
            count = count.bind(*filter);
            select = select.bind(*filter);
        }
        let count: i64 = count.fetch_one(&self.pool).await.map_err(map_sqlx_error)?;
        let rows: Vec<R> = select
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        let items = rows
            .into_iter()
            .map(T::try_from)
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            total: total(count),
            items,
        })
    }

    /// Runs a `DELETE … WHERE account_id = $1 AND id = $2`; `NotFound` when no
    /// row went.
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
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(entity));
        }
        Ok(())
    }
}
