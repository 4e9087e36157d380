//! Rollups for SQLite (docs/rollups.md): the registry and the cells, kept in
//! the write transaction that stores or deletes the events they sum.
//!
//! `tally_store::rollups` decides what changes; this module reads and writes
//! rows: the account's rollups at the start of a write, the touched cells
//! (many per statement), and the current events of a cell to recompute.

use sqlx::{Sqlite, SqliteConnection};
use tally_aggregate::{Partial, ROLLUP_BUCKET_MS};
use tally_event::{EventType, RecordId};
use tally_store::rollups::licensed::{by_event_type, keys_to_read};
use tally_store::rollups::{
    Cell, CellDeltas, CellRows, LiveRollup, RollupCompiler, RollupProgress, RollupRow, RollupSpec,
    RowKey, backfill_cells, backfill_changes, backfill_group, backfill_reads_lives,
    backfill_writes, partial_in_row,
};
use tally_store::{AccountId, CustomerId, StoreError, StoreResult, StoredEvent, UpsertPlan};

use super::upsert::{repeated, statement_sizes};
use super::{EVENT_COLUMNS, lives_of};
use crate::error::{corrupt, db_err};
use crate::rows::EventRow;

const ROLLUPS_OF_ACCOUNT: &str = "SELECT id, set_id, fingerprint, event_type, definition, \
filter_id, ready, cursor FROM rollups WHERE account_id = ?";

const CELLS_HEAD: &str = "SELECT set_id, customer_id, bucket, state FROM rollup_cells \
WHERE (set_id, customer_id, bucket) IN (VALUES ";
const CELL_ROW: &str = "(?, ?, ?)";
const WRITE_HEAD: &str = "INSERT INTO rollup_cells (set_id, customer_id, bucket, state) VALUES ";
const WRITE_ROW: &str = "(?, ?, ?, ?)";
const WRITE_TAIL: &str =
    " ON CONFLICT (set_id, customer_id, bucket) DO UPDATE SET state = excluded.state";
const DELETE_HEAD: &str =
    "DELETE FROM rollup_cells WHERE (set_id, customer_id, bucket) IN (VALUES ";

/// A registry row.
#[derive(sqlx::FromRow)]
struct RegistryRow {
    id: i64,
    set_id: i64,
    fingerprint: String,
    event_type: String,
    definition: String,
    filter_id: Option<String>,
    ready: bool,
    cursor: Option<String>,
}

impl TryFrom<RegistryRow> for RollupRow {
    type Error = StoreError;

    fn try_from(row: RegistryRow) -> StoreResult<Self> {
        Ok(RollupRow {
            id: row.id,
            set: row.set_id,
            fingerprint: row.fingerprint,
            event_type: EventType::parse(&row.event_type)
                .map_err(|e| corrupt("rollup event type", e))?,
            definition: serde_json::from_str(&row.definition)
                .map_err(|e| corrupt("rollup definition", e))?,
            filter: row.filter_id,
            ready: row.ready,
            cursor: row
                .cursor
                .map(|c| RecordId::parse(&c))
                .transpose()
                .map_err(|e| corrupt("rollup cursor", e))?,
        })
    }
}

/// The account's rollups, compiled.
pub(crate) async fn live_rollups(
    conn: &mut SqliteConnection,
    compiler: &RollupCompiler,
    account: &AccountId,
) -> StoreResult<Vec<LiveRollup>> {
    let rows: Vec<RegistryRow> = sqlx::query_as(ROLLUPS_OF_ACCOUNT)
        .bind(account.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let rows = rows
        .into_iter()
        .map(RollupRow::try_from)
        .collect::<StoreResult<_>>()?;
    compiler.load(rows)
}

/// Applies what an upsert plan changed to the rollups of its accounts, on
/// the plan's transaction, after its versions are written.
pub(crate) async fn apply_plan(
    conn: &mut SqliteConnection,
    compiler: &RollupCompiler,
    plan: &UpsertPlan<'_>,
) -> StoreResult<()> {
    for account in plan.last_seq.keys() {
        let rollups = live_rollups(conn, compiler, account).await?;
        if rollups.is_empty() {
            continue;
        }
        let mut lives = Vec::new();
        for (event_type, record_ids) in by_event_type(keys_to_read(plan, account, &rollups)) {
            lives.extend(lives_of(conn, account, &event_type, &record_ids).await?);
        }
        let deltas = CellDeltas::of_plan(plan, account, &rollups, &lives)?;
        apply_deltas(conn, account, &rollups, deltas).await?;
    }
    Ok(())
}

/// Retracts `gone` (every live version of keys just deleted or purged, on
/// the caller's transaction) from the account's rollups: after the change,
/// so that a cell recomputed reads what is left.
pub(crate) async fn retract(
    conn: &mut SqliteConnection,
    compiler: &RollupCompiler,
    account: &AccountId,
    gone: &[StoredEvent],
) -> StoreResult<()> {
    if gone.is_empty() {
        return Ok(());
    }
    let rollups = live_rollups(conn, compiler, account).await?;
    let deltas = CellDeltas::of_removed(&rollups, gone)?;
    apply_deltas(conn, account, &rollups, deltas).await
}

async fn apply_deltas(
    conn: &mut SqliteConnection,
    account: &AccountId,
    rollups: &[LiveRollup],
    deltas: CellDeltas,
) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let cells = deltas.cells();
    let mut rows = CellRows::new(rollups);
    read_rows(conn, &mut rows, &cells).await?;
    let out = deltas.apply(rows.partials(&cells));
    let mut writes = out.writes;
    for cell in out.recompute {
        let Some(rollup) = rollups.iter().find(|r| r.id == cell.rollup) else {
            continue;
        };
        let events = cell_events(conn, account, rollup, &cell).await?;
        let partial = rollup.recompute(&events)?;
        writes.push((cell, (!partial.is_empty()).then_some(partial)));
    }
    write_rows(conn, rows.apply(writes)?).await
}

/// Reads the stored rows holding `cells` into `rows`.
async fn read_rows(
    conn: &mut SqliteConnection,
    rows: &mut CellRows,
    cells: &[Cell],
) -> StoreResult<()> {
    let keys = rows.rows_of(cells);
    let mut rest = keys.as_slice();
    for size in statement_sizes(keys.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(CELLS_HEAD, CELL_ROW, size, ")");
        let mut query = sqlx::query_as::<Sqlite, (i64, String, i64, String)>(&sql);
        for key in chunk {
            query = query
                .bind(key.set)
                .bind(key.customer.as_str())
                .bind(key.bucket);
        }
        for (set, customer, bucket, state) in query
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("rollup"))?
        {
            let customer =
                CustomerId::parse(&customer).map_err(|e| corrupt("rollup customer", e))?;
            rows.insert_row(
                RowKey {
                    set,
                    customer,
                    bucket,
                },
                &state,
            )?;
        }
    }
    Ok(())
}

/// Stores (`Some`) or deletes (`None`) rows of cells.
async fn write_rows(
    conn: &mut SqliteConnection,
    rows: Vec<(RowKey, Option<String>)>,
) -> StoreResult<()> {
    let (stores, deletes): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, s)| s.is_some());
    let mut rest = stores.as_slice();
    for size in statement_sizes(stores.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(WRITE_HEAD, WRITE_ROW, size, WRITE_TAIL);
        let mut query = sqlx::query::<Sqlite>(&sql);
        for (key, state) in chunk {
            query = query
                .bind(key.set)
                .bind(key.customer.as_str())
                .bind(key.bucket)
                .bind(state.as_deref());
        }
        query.execute(&mut *conn).await.map_err(db_err("rollup"))?;
    }
    let mut rest = deletes.as_slice();
    for size in statement_sizes(deletes.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = repeated(DELETE_HEAD, CELL_ROW, size, ")");
        let mut query = sqlx::query::<Sqlite>(&sql);
        for (key, _) in chunk {
            query = query
                .bind(key.set)
                .bind(key.customer.as_str())
                .bind(key.bucket);
        }
        query.execute(&mut *conn).await.map_err(db_err("rollup"))?;
    }
    Ok(())
}

/// The current events of a cell's customer and hour that `rollup` maintains.
async fn cell_events(
    conn: &mut SqliteConnection,
    account: &AccountId,
    rollup: &LiveRollup,
    cell: &Cell,
) -> StoreResult<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions AS v INDEXED BY event_versions_usage \
         WHERE customer_num = (SELECT num FROM event_customers WHERE account_id = ?1 AND customer_id = ?3) \
         AND type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?2) \
         AND ts >= ?4 AND ts < ?5 AND current_until IS NULL AND (?6 OR record_id <= ?7)"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .bind(rollup.event_type.as_str())
        .bind(cell.customer.as_str())
        .bind(cell.bucket)
        .bind(cell.bucket + ROLLUP_BUCKET_MS)
        .bind(rollup.ready)
        .bind(rollup.cursor.as_ref().map_or("", RecordId::as_str))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

/// Registers the specs the account does not have yet.
pub(crate) async fn register(
    conn: &mut SqliteConnection,
    account: &AccountId,
    specs: &[RollupSpec],
) -> StoreResult<()> {
    for spec in specs {
        sqlx::query(
            "INSERT INTO rollup_sets (account_id, event_type) VALUES (?, ?) \
             ON CONFLICT (account_id, event_type) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(spec.event_type.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
        sqlx::query(
            "INSERT INTO rollups (set_id, account_id, fingerprint, event_type, definition, filter_id) \
             SELECT id, account_id, ?, event_type, ?, ? FROM rollup_sets \
             WHERE account_id = ? AND event_type = ? \
             ON CONFLICT (account_id, fingerprint) DO NOTHING",
        )
        .bind(&spec.fingerprint)
        .bind(spec.definition.to_string())
        .bind(spec.filter.as_deref())
        .bind(account.as_str())
        .bind(spec.event_type.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    }
    Ok(())
}

/// Drops the account's rollups not in `keep`. Their entries in rows of
/// cells go when those rows are next written; a set left without rollups
/// loses its rows at once.
pub(crate) async fn retain(
    conn: &mut SqliteConnection,
    account: &AccountId,
    keep: &[String],
) -> StoreResult<()> {
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, fingerprint FROM rollups WHERE account_id = ?")
            .bind(account.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("rollup"))?;
    for (id, fingerprint) in ids {
        if !keep.contains(&fingerprint) {
            sqlx::query("DELETE FROM rollups WHERE id = ?")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_err("rollup"))?;
        }
    }
    for sql in [
        "DELETE FROM rollup_cells WHERE set_id IN (SELECT id FROM rollup_sets s WHERE s.account_id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.set_id = s.id))",
        "DELETE FROM rollup_sets WHERE account_id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.set_id = rollup_sets.id)",
    ] {
        sqlx::query(sql)
            .bind(account.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err("rollup"))?;
    }
    Ok(())
}

/// The account's rollups and how far each is.
pub(crate) async fn progress(
    conn: &mut SqliteConnection,
    account: &AccountId,
) -> StoreResult<Vec<RollupProgress>> {
    let rows: Vec<(String, bool, i64)> = sqlx::query_as(
        "SELECT fingerprint, ready, backfilled FROM rollups WHERE account_id = ? ORDER BY id",
    )
    .bind(account.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("rollup"))?;
    Ok(rows
        .into_iter()
        .map(|(fingerprint, ready, backfilled)| RollupProgress {
            fingerprint,
            ready,
            backfilled_events: u64::try_from(backfilled).unwrap_or_default(),
        })
        .collect())
}

/// One backfill step on the write transaction: the next `max_events`
/// current versions (by record id) of the first building rollup go into its
/// cells, and its cursor moves past them.
pub(crate) async fn backfill_step(
    conn: &mut SqliteConnection,
    compiler: &RollupCompiler,
    max_events: u64,
) -> StoreResult<bool> {
    // The least advanced first: rollups registered after it catch up with
    // it, and then share its reads.
    let next: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, account_id FROM rollups WHERE ready = 0 \
         ORDER BY cursor IS NOT NULL, cursor, id LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("rollup"))?;
    let Some((lead, account)) = next else {
        return Ok(false);
    };
    let account = AccountId::parse(&account).map_err(|e| corrupt("rollup account", e))?;
    let rollups = live_rollups(conn, compiler, &account).await?;
    let group = backfill_group(&rollups, lead);
    let Some(first) = group.first() else {
        return Ok(false);
    };
    let limit = i64::try_from(max_events.max(1)).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions AS v \
         WHERE type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?2) AND record_id > ?3 AND current_until IS NULL \
         ORDER BY record_id LIMIT ?4"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .bind(first.event_type.as_str())
        .bind(first.cursor.as_ref().map_or("", RecordId::as_str))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    let events = rows
        .into_iter()
        .map(StoredEvent::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    let lives = match events.last() {
        Some(last) if backfill_reads_lives(&group) => {
            chunk_lives(conn, &account, first, last.record_id()).await?
        }
        _ => Vec::new(),
    };
    let changes = backfill_changes(&group, &events, &lives)?;
    let cells = backfill_cells(&changes);
    let mut rows = CellRows::new(&rollups);
    read_rows(conn, &mut rows, &cells).await?;
    let writes = backfill_writes(changes, rows.partials(&cells));
    write_rows(conn, rows.apply(writes)?).await?;
    let done = (events.len() as i64) < limit;
    let cursor = events.last().map(|e| e.record_id().as_str().to_owned());
    for rollup in &group {
        sqlx::query(
            "UPDATE rollups SET ready = ?, cursor = COALESCE(?, cursor), \
             backfilled = backfilled + ? WHERE id = ?",
        )
        .bind(done)
        .bind(cursor.as_deref())
        .bind(events.len() as i64)
        .bind(rollup.id)
        .execute(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    }
    Ok(true)
}

/// Every live version of the keys of a backfill chunk: those after the
/// rollup's cursor up to `last`, the chunk's last key.
async fn chunk_lives(
    conn: &mut SqliteConnection,
    account: &AccountId,
    rollup: &LiveRollup,
    last: &RecordId,
) -> StoreResult<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions AS v \
         WHERE type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?2) AND record_id > ?3 AND record_id <= ?4 \
         AND deleted_seq IS NULL"
    );
    let rows: Vec<EventRow> = sqlx::query_as(&sql)
        .bind(account.as_str())
        .bind(rollup.event_type.as_str())
        .bind(rollup.cursor.as_ref().map_or("", RecordId::as_str))
        .bind(last.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("rollup"))?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

/// The cells of the account's ready rollup `fingerprint` in `hours`, of one
/// customer or all; `None` without such a rollup.
pub(crate) async fn cells(
    conn: &mut SqliteConnection,
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
             LEFT JOIN rollup_cells c ON c.set_id = r.set_id AND c.customer_id = ?3 \
               AND c.bucket >= ?4 AND c.bucket < ?5 \
             WHERE r.account_id = ?1 AND r.fingerprint = ?2 AND r.ready = 1",
        )
        .bind(account.as_str())
        .bind(fingerprint)
        .bind(customer.as_str()),
        None => sqlx::query_as(
            "SELECT r.id, c.bucket, c.state FROM rollups r \
             LEFT JOIN rollup_cells c INDEXED BY rollup_cells_by_bucket ON c.set_id = r.set_id \
               AND c.bucket >= ?4 AND c.bucket < ?5 AND ?3 IS NULL \
             WHERE r.account_id = ?1 AND r.fingerprint = ?2 AND r.ready = 1",
        )
        .bind(account.as_str())
        .bind(fingerprint)
        .bind(None::<&str>),
    }
    .bind(hours.0)
    .bind(hours.1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("rollup"))?;
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
