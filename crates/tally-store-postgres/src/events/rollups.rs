//! Rollups for PostgreSQL (docs/rollups.md): the registry and the cells,
//! written in the transaction that stores or deletes the events they sum,
//! under the account's sequence lock. Every writer of an account's cells
//! (upserts, deletions, purges, backfill steps, dropping a rollup) holds that
//! lock, so a cell is never read and rewritten by two transactions at once,
//! whatever process they run in.

use sqlx::Transaction;
use sqlx::postgres::Postgres;
use tally_aggregate::{Partial, ROLLUP_BUCKET_MS};
use tally_event::RecordId;
use tally_store::rollups::licensed::{by_event_type, keys_to_read};
use tally_store::rollups::{
    Cell, CellDeltas, CellRows, LiveRollup, RollupCompiler, RollupProgress, RollupRow, RollupSpec,
    RowKey, backfill_cells, backfill_changes, backfill_group, backfill_reads_lives,
    backfill_writes, partial_in_row,
};
use tally_store::{AccountId, CustomerId, StoreResult, StoredEvent, UpsertPlan};

use super::{EventRow, lives_of};
use crate::map_sqlx_error;
use crate::rows::{parse, parse_opt, total};

type Tx = Transaction<'static, Postgres>;

/// A registry row.
#[derive(sqlx::FromRow)]
struct RegistryRow {
    id: i64,
    set_id: i64,
    fingerprint: String,
    event_type: String,
    definition: serde_json::Value,
    filter_id: Option<String>,
    ready: bool,
    cursor: Option<String>,
}

impl RegistryRow {
    fn into_row(self) -> StoreResult<RollupRow> {
        Ok(RollupRow {
            id: self.id,
            set: self.set_id,
            fingerprint: self.fingerprint,
            event_type: parse(self.event_type, "rollups.event_type")?,
            definition: self.definition,
            filter: self.filter_id,
            ready: self.ready,
            cursor: parse_opt::<RecordId>(self.cursor, "rollups.cursor")?,
        })
    }
}

const REGISTRY_COLUMNS: &str =
    "id, set_id, fingerprint, event_type, definition, filter_id, ready, cursor";

/// The account's rollups, compiled. Read after the sequence lock, so a
/// rollup's cursor cannot move while the caller writes.
pub(super) async fn live_rollups(
    tx: &mut Tx,
    compiler: &RollupCompiler,
    account: &AccountId,
) -> StoreResult<Vec<LiveRollup>> {
    let sql = format!("SELECT {REGISTRY_COLUMNS} FROM rollups WHERE account_id = $1");
    let rows: Vec<RegistryRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let rows = rows
        .into_iter()
        .map(RegistryRow::into_row)
        .collect::<StoreResult<_>>()?;
    compiler.load(rows)
}

/// Applies what an upsert plan changed to its accounts' rollups, after its
/// versions are written, on the transaction holding their sequence locks.
pub(super) async fn apply_plan(
    tx: &mut Tx,
    compiler: &RollupCompiler,
    plan: &UpsertPlan<'_>,
) -> StoreResult<()> {
    for account in plan.last_seq.keys() {
        let rollups = live_rollups(tx, compiler, account).await?;
        if rollups.is_empty() {
            continue;
        }
        let mut lives = Vec::new();
        for (event_type, record_ids) in by_event_type(keys_to_read(plan, account, &rollups)) {
            let record_ids: Vec<&str> = record_ids.iter().map(RecordId::as_str).collect();
            lives.extend(lives_of(tx, account, &event_type, &record_ids).await?);
        }
        let deltas = CellDeltas::of_plan(plan, account, &rollups, &lives)?;
        apply_deltas(tx, account, &rollups, deltas).await?;
    }
    Ok(())
}

/// Retracts `gone` (every live version of keys just deleted or purged, on
/// this transaction) from the account's rollups.
pub(super) async fn retract(
    tx: &mut Tx,
    compiler: &RollupCompiler,
    account: &AccountId,
    gone: &[StoredEvent],
) -> StoreResult<()> {
    if gone.is_empty() {
        return Ok(());
    }
    let rollups = live_rollups(tx, compiler, account).await?;
    let deltas = CellDeltas::of_removed(&rollups, gone)?;
    apply_deltas(tx, account, &rollups, deltas).await
}

async fn apply_deltas(
    tx: &mut Tx,
    account: &AccountId,
    rollups: &[LiveRollup],
    deltas: CellDeltas,
) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let cells = deltas.cells();
    let mut rows = CellRows::new(rollups);
    read_rows(tx, &mut rows, &cells).await?;
    let out = deltas.apply(rows.partials(&cells));
    let mut writes = out.writes;
    for cell in out.recompute {
        let Some(rollup) = rollups.iter().find(|r| r.id == cell.rollup) else {
            continue;
        };
        let events = cell_events(tx, account, rollup, &cell).await?;
        let partial = rollup.recompute(&events)?;
        writes.push((cell, (!partial.is_empty()).then_some(partial)));
    }
    write_rows(tx, rows.apply(writes)?).await
}

fn columns<'k>(keys: &[&'k RowKey]) -> (Vec<i64>, Vec<&'k str>, Vec<i64>) {
    let sets = keys.iter().map(|k| k.set).collect();
    let customers = keys.iter().map(|k| k.customer.as_str()).collect();
    let buckets = keys.iter().map(|k| k.bucket).collect();
    (sets, customers, buckets)
}

/// Reads the stored rows holding `cells` into `rows`, in one statement.
async fn read_rows(tx: &mut Tx, rows: &mut CellRows, cells: &[Cell]) -> StoreResult<()> {
    let keys = rows.rows_of(cells);
    let (sets, customers, buckets) = columns(&keys.iter().collect::<Vec<_>>());
    let found: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT c.set_id, c.customer_id, c.bucket, c.state FROM rollup_cells c \
         JOIN UNNEST($1::int8[], $2::text[], $3::int8[]) AS k (set_id, customer_id, bucket) \
           ON c.set_id = k.set_id AND c.customer_id = k.customer_id AND c.bucket = k.bucket",
    )
    .bind(sets)
    .bind(customers)
    .bind(buckets)
    .fetch_all(&mut **tx)
    .await
    .map_err(map_sqlx_error)?;
    for (set, customer, bucket, state) in found {
        let customer: CustomerId = parse(customer, "rollup_cells.customer_id")?;
        rows.insert_row(
            RowKey {
                set,
                customer,
                bucket,
            },
            &state,
        )?;
    }
    Ok(())
}

/// Stores (`Some`) or deletes (`None`) rows of cells, one statement each way.
async fn write_rows(tx: &mut Tx, rows: Vec<(RowKey, Option<String>)>) -> StoreResult<()> {
    let mut stored = Vec::new();
    let mut states = Vec::new();
    let mut deleted = Vec::new();
    for (key, state) in &rows {
        match state {
            Some(state) => {
                stored.push(key);
                states.push(state.as_str());
            }
            None => deleted.push(key),
        }
    }
    if !stored.is_empty() {
        let (sets, customers, buckets) = columns(&stored);
        sqlx::query(
            "INSERT INTO rollup_cells (set_id, customer_id, bucket, state) \
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[]) \
             ON CONFLICT (set_id, customer_id, bucket) DO UPDATE SET state = excluded.state",
        )
        .bind(sets)
        .bind(customers)
        .bind(buckets)
        .bind(states)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    }
    if !deleted.is_empty() {
        let (sets, customers, buckets) = columns(&deleted);
        sqlx::query(
            "DELETE FROM rollup_cells c \
             USING UNNEST($1::int8[], $2::text[], $3::int8[]) AS k (set_id, customer_id, bucket) \
             WHERE c.set_id = k.set_id AND c.customer_id = k.customer_id AND c.bucket = k.bucket",
        )
        .bind(sets)
        .bind(customers)
        .bind(buckets)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    }
    Ok(())
}

const EVENT_COLUMNS: &str = "id, event_type, customer_id, ts, record, ingested_at, seq";

/// The current events of a cell's customer and hour that `rollup` maintains.
async fn cell_events(
    tx: &mut Tx,
    account: &AccountId,
    rollup: &LiveRollup,
    cell: &Cell,
) -> StoreResult<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions \
         WHERE account_id = $1 AND customer_id = $2 AND event_type = $3 AND ts >= $4 AND ts < $5 \
         AND current_until IS NULL AND ($6 OR record_id <= $7)"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .bind(cell.customer.as_str())
        .bind(rollup.event_type.as_str())
        .bind(cell.bucket)
        .bind(cell.bucket + ROLLUP_BUCKET_MS)
        .bind(rollup.ready)
        .bind(rollup.cursor.as_ref().map_or("", RecordId::as_str))
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

/// Registers the specs the account does not have yet.
pub(super) async fn register(
    tx: &mut Tx,
    account: &AccountId,
    specs: &[RollupSpec],
) -> StoreResult<()> {
    for spec in specs {
        sqlx::query(
            "INSERT INTO rollup_sets (account_id, event_type) VALUES ($1, $2) \
             ON CONFLICT (account_id, event_type) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(spec.event_type.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
        sqlx::query(
            "INSERT INTO rollups (set_id, account_id, fingerprint, event_type, definition, filter_id) \
             SELECT id, account_id, $2, event_type, $3, $4 FROM rollup_sets \
             WHERE account_id = $1 AND event_type = $5 \
             ON CONFLICT (account_id, fingerprint) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(&spec.fingerprint)
        .bind(&spec.definition)
        .bind(spec.filter.as_deref())
        .bind(spec.event_type.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    }
    Ok(())
}

/// Drops the account's rollups not in `keep` (the caller holds the
/// account's sequence lock). Their entries in rows of cells go when those
/// rows are next written; a set left without rollups loses its rows at once.
pub(super) async fn retain(tx: &mut Tx, account: &AccountId, keep: &[String]) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM rollups WHERE account_id = $1 AND NOT (fingerprint = ANY($2::text[]))",
    )
    .bind(account.as_str())
    .bind(keep)
    .execute(&mut **tx)
    .await
    .map_err(map_sqlx_error)?;
    for sql in [
        "DELETE FROM rollup_cells WHERE set_id IN (SELECT id FROM rollup_sets s \
         WHERE s.account_id = $1 AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.set_id = s.id))",
        "DELETE FROM rollup_sets s WHERE s.account_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.set_id = s.id)",
    ] {
        sqlx::query(sql)
            .bind(account.as_str())
            .execute(&mut **tx)
            .await
            .map_err(map_sqlx_error)?;
    }
    Ok(())
}

/// The account's rollups and how far each is.
pub(super) async fn progress(
    pool: &sqlx::PgPool,
    account: &AccountId,
) -> StoreResult<Vec<RollupProgress>> {
    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
        "SELECT fingerprint, ready, backfilled FROM rollups WHERE account_id = $1 ORDER BY id",
    )
    .bind(account.as_str())
    .fetch_all(pool)
    .await
    .map_err(map_sqlx_error)?;
    Ok(rows
        .into_iter()
        .map(|(fingerprint, ready, backfilled)| RollupProgress {
            fingerprint,
            ready,
            backfilled_events: total(backfilled),
        })
        .collect())
}

/// The least advanced building rollup, if any: (id, account). Rollups
/// registered after it catch up with it, and then share its reads.
pub(super) async fn next_building(pool: &sqlx::PgPool) -> StoreResult<Option<(i64, AccountId)>> {
    let next: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, account_id FROM rollups WHERE NOT ready ORDER BY cursor NULLS FIRST, id LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)?;
    next.map(|(id, account)| Ok((id, parse(account, "rollups.account_id")?)))
        .transpose()
}

/// One backfill step of rollup `lead` and the rollups at its cursor, on a
/// transaction holding their account's sequence lock: the next `max_events`
/// current versions (by record id) go into their cells and their cursor
/// moves past them.
pub(super) async fn backfill_step(
    tx: &mut Tx,
    compiler: &RollupCompiler,
    lead: i64,
    account: &AccountId,
    max_events: u64,
) -> StoreResult<()> {
    // Read under the lock: another process may have moved the cursor.
    let rollups = live_rollups(tx, compiler, account).await?;
    let group = backfill_group(&rollups, lead);
    let Some(first) = group.first() else {
        return Ok(());
    };
    let limit = i64::try_from(max_events.max(1)).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions \
         WHERE account_id = $1 AND event_type = $2 AND record_id > $3 AND current_until IS NULL \
         ORDER BY record_id LIMIT $4"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .bind(first.event_type.as_str())
        .bind(first.cursor.as_ref().map_or("", RecordId::as_str))
        .bind(limit)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    let events = rows
        .into_iter()
        .map(StoredEvent::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    let lives = match events.last() {
        Some(last) if backfill_reads_lives(&group) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM event_versions \
                 WHERE account_id = $1 AND event_type = $2 AND record_id > $3 \
                 AND record_id <= $4 AND deleted_seq IS NULL"
            );
            let rows: Vec<EventRow> = sqlx::query_as(&sql)
                .bind(account.as_str())
                .bind(first.event_type.as_str())
                .bind(first.cursor.as_ref().map_or("", RecordId::as_str))
                .bind(last.record_id().as_str())
                .fetch_all(&mut **tx)
                .await
                .map_err(map_sqlx_error)?;
            rows.into_iter()
                .map(StoredEvent::try_from)
                .collect::<StoreResult<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    let changes = backfill_changes(&group, &events, &lives)?;
    let cells = backfill_cells(&changes);
    let mut rows = CellRows::new(&rollups);
    read_rows(tx, &mut rows, &cells).await?;
    let writes = backfill_writes(changes, rows.partials(&cells));
    write_rows(tx, rows.apply(writes)?).await?;
    let done = (events.len() as i64) < limit;
    let cursor = events.last().map(|e| e.record_id().as_str().to_owned());
    let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
    sqlx::query(
        "UPDATE rollups SET ready = $1, cursor = COALESCE($2, cursor), \
         backfilled = backfilled + $3 WHERE id = ANY($4::int8[])",
    )
    .bind(done)
    .bind(cursor)
    .bind(events.len() as i64)
    .bind(ids)
    .execute(&mut **tx)
    .await
    .map_err(map_sqlx_error)?;
    Ok(())
}

/// The cells of the account's ready rollup `fingerprint` in `hours`, of one
/// customer or all; `None` without such a rollup.
pub(super) async fn cells(
    pool: &sqlx::PgPool,
    account: &AccountId,
    fingerprint: &str,
    customer: Option<&CustomerId>,
    hours: (i64, i64),
) -> StoreResult<Option<Vec<(i64, Partial)>>> {
    // One statement: the rollup and its cells are read in one snapshot, so
    // a rollup dropped meanwhile cannot leave a ready answer without cells.
    let rows: Vec<(i64, Option<i64>, Option<String>)> = match customer {
        Some(customer) => sqlx::query_as(
            "SELECT r.id, c.bucket, c.state FROM rollups r \
             LEFT JOIN rollup_cells c ON c.set_id = r.set_id AND c.customer_id = $3 \
               AND c.bucket >= $4 AND c.bucket < $5 \
             WHERE r.account_id = $1 AND r.fingerprint = $2 AND r.ready",
        )
        .bind(account.as_str())
        .bind(fingerprint)
        .bind(customer.as_str())
        .bind(hours.0)
        .bind(hours.1),
        None => sqlx::query_as(
            "SELECT r.id, c.bucket, c.state FROM rollups r \
             LEFT JOIN rollup_cells c ON c.set_id = r.set_id \
               AND c.bucket >= $3 AND c.bucket < $4 \
             WHERE r.account_id = $1 AND r.fingerprint = $2 AND r.ready",
        )
        .bind(account.as_str())
        .bind(fingerprint)
        .bind(hours.0)
        .bind(hours.1),
    }
    .fetch_all(pool)
    .await
    .map_err(map_sqlx_error)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut cells = Vec::with_capacity(rows.len());
    for (id, bucket, state) in rows {
        if let (Some(bucket), Some(state)) = (bucket, state)
            && let Some(partial) = partial_in_row(&state, id)?
        {
            cells.push((bucket, partial));
        }
    }
    Ok(Some(cells))
}
