//! Bulk ingestion: `POST /v1/events/batch` over several connections, next to
//! a raw bulk upsert of the same rows into SQLite (and PostgreSQL), run by run
//! on fresh databases.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tally_billing::Billing;
use tally_event::{EventType, RecordId, Timestamp, ValidationConfig, parse_event};
use tally_store::{AccountId, CustomerId, EventGroup, EventId, EventStore, NewEvent};
use tally_store_postgres::PgStore;
use tally_store_sqlite::{RawBaseline, RawEventRow, SqliteOptions, SqliteStore};

use super::{PEAK_RSS, RSS_TARGET, data_set, now_ms, peak, start_server};
use crate::Bench;
use crate::generate::{self, DataSet, Mix};
use crate::parallel;
use crate::report::{Figure, Report, Unit};

/// The environment variable naming a PostgreSQL database for raw-postgres.
pub const POSTGRES_URL_VAR: &str = "TALLY_BENCH_POSTGRES_URL";

pub(super) fn batch_data(bench: &Bench) -> DataSet {
    data_set(bench, 0, bench.batch_events, bench.customers, Mix::Mixed)
}

/// Event `n` of `data` as the store keeps it: validated like the server does.
fn parsed(data: &DataSet, n: u64) -> anyhow::Result<(tally_event::Event, String)> {
    let now = Timestamp::from_datetime(chrono::Utc::now()).context("clock out of range")?;
    let generated = data.event(n);
    let parsed = parse_event(&generated.json, &ValidationConfig::default(), now)
        .map_err(|errors| anyhow::anyhow!("generated event {n} is invalid: {errors:?}"))?;
    Ok((
        parsed.event,
        generate::customer_tally_id(data.seed, generated.customer),
    ))
}

fn raw_rows(data: &DataSet) -> anyhow::Result<Vec<RawEventRow>> {
    raw_rows_of(data, &AccountId::random(), 0..data.total)
}

/// Rows `range` of `data`, in `account`.
fn raw_rows_of(
    data: &DataSet,
    account: &AccountId,
    range: std::ops::Range<u64>,
) -> anyhow::Result<Vec<RawEventRow>> {
    let ingested_at_ms = now_ms();
    range
        .map(|n| {
            let (event, customer_id) = parsed(data, n)?;
            Ok(RawEventRow {
                account_id: account.as_str().to_owned(),
                event_type: event.event_type.as_str().to_owned(),
                record_id: event.record.id().as_str().to_owned(),
                id: generate::event_id(data.seed, n),
                customer_id,
                timestamp_ms: event.timestamp.as_millis(),
                record_json: event.record.to_json().to_string(),
                ingested_at_ms,
            })
        })
        .collect()
}

/// A fresh raw baseline file for run `run`.
async fn open_raw(bench: &Bench, run: usize) -> anyhow::Result<(RawBaseline, PathBuf)> {
    let db = bench.path(&format!("raw-sqlite-{run}.db"));
    crate::report::remove_sqlite(&db);
    let baseline = RawBaseline::open(&db, &SqliteOptions::default())
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    Ok((baseline, db))
}

/// One raw run (the physical reference: a minimal table, multi-row inserts
/// of the batch size, the store's connection settings) on `baseline`, which
/// is then closed and discarded: events/s.
async fn time_raw(
    bench: &Bench,
    (baseline, db): (RawBaseline, PathBuf),
    rows: &[RawEventRow],
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut written = 0;
    for chunk in rows.chunks(bench.batch_size as usize) {
        written += baseline.insert(chunk).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    baseline.close().await;
    ensure!(
        written == rows.len() as u64,
        "raw-sqlite wrote {written} of {} rows",
        rows.len()
    );
    bench.discard(&db);
    Ok(rows.len() as f64 / seconds)
}

/// One raw run on a fresh SQLite file: events/s.
async fn raw_sqlite_run(bench: &Bench, rows: &[RawEventRow], run: usize) -> anyhow::Result<f64> {
    let raw = open_raw(bench, run).await?;
    time_raw(bench, raw, rows).await
}

pub async fn raw_sqlite(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    eprintln!(
        "raw-sqlite: {} events, transactions of {}",
        bench.batch_events, bench.batch_size
    );
    let rows = raw_rows(&batch_data(bench))?;
    let mut rates = Vec::new();
    for run in 0..bench.runs {
        rates.push(raw_sqlite_run(bench, &rows, run).await?);
    }
    report.check("raw-sqlite", "rows written per run", rows.len() as u64);
    report.add(Figure::new(
        "raw-sqlite",
        "raw multi-row insert into a minimal SQLite table",
        Unit::EventsPerSecond,
        rates,
    ));
    Ok(())
}

/// Events preloaded per statement batch: large transactions, since the
/// preload is not timed.
const PRELOAD_BATCH: u64 = 10_000;

/// Events `0..total` in transactions of [`PRELOAD_BATCH`].
fn preload_batches(total: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
    (0..total)
        .step_by(PRELOAD_BATCH as usize)
        .map(move |start| start..(start + PRELOAD_BATCH).min(total))
}

/// The `--preload-events` data set: the timed one's shape, another seed (so
/// other record ids), stored under another account.
fn preload_data(bench: &Bench) -> DataSet {
    data_set(bench, 1, bench.preload_events, bench.customers, Mix::Mixed)
}

/// Fills the raw baseline's table with the preload rows, untimed.
async fn preload_raw(bench: &Bench, baseline: &RawBaseline) -> anyhow::Result<()> {
    if bench.preload_events == 0 {
        return Ok(());
    }
    let data = preload_data(bench);
    let account = AccountId::random();
    let started = Instant::now();
    for range in preload_batches(data.total) {
        baseline
            .insert(&raw_rows_of(&data, &account, range)?)
            .await?;
    }
    eprintln!(
        "    raw: preloaded {} rows in {:.0} s",
        data.total,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies run `run`'s preloaded store (built once per run through the store,
/// untimed) to `db`, with its write-ahead log if closing left one.
fn copy_preload(bench: &Bench, db: &std::path::Path, run: usize) -> anyhow::Result<()> {
    let source = bench.path(&format!("preload-{run}.db"));
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", source.display()));
        if suffix.is_empty() || from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", db.display()));
            std::fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}

/// Builds run `run`'s preloaded store file, when `--preload-events` asks for one.
async fn build_preload(bench: &Bench, run: usize) -> anyhow::Result<()> {
    if bench.preload_events == 0 {
        return Ok(());
    }
    let db = bench.path(&format!("preload-{run}.db"));
    crate::report::remove_sqlite(&db);
    let store = SqliteStore::open(&db)
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    let data = preload_data(bench);
    let account = AccountId::random();
    let started = Instant::now();
    for range in preload_batches(data.total) {
        let group = EventGroup {
            account: account.clone(),
            events: new_events_of(&data, range)?,
        };
        store
            .upsert_event_groups(std::slice::from_ref(&group))
            .await?;
    }
    // Closing checkpoints the WAL into the file, so a copy of the file alone
    // holds every event.
    store.close().await;
    eprintln!(
        "    run {run}: preloaded {} events in {:.0} s ({:.0} MB)",
        data.total,
        started.elapsed().as_secs_f64(),
        crate::report::sqlite_size(&db) as f64 / 1e6
    );
    Ok(())
}

/// The same events through the SQLite store alone (no HTTP, no validation,
/// no customer lookup), one `upsert_event_groups` transaction per
/// `--batch-size` events, on a fresh file: events/s. Between raw-sqlite and
/// http-batch, it tells the store's cost from the server's.
async fn store_sqlite_run(bench: &Bench, events: &[NewEvent], run: usize) -> anyhow::Result<f64> {
    let db = bench.path(&format!("store-sqlite-{run}.db"));
    crate::report::remove_sqlite(&db);
    if bench.preload_events > 0 {
        copy_preload(bench, &db, run)?;
    }
    let store = SqliteStore::open(&db)
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    let account = AccountId::random();
    let started = Instant::now();
    let mut written = 0;
    for chunk in events.chunks(bench.batch_size as usize) {
        let group = EventGroup {
            account: account.clone(),
            events: chunk.to_vec(),
        };
        let results = store
            .upsert_event_groups(std::slice::from_ref(&group))
            .await?;
        written += results.iter().map(Vec::len).sum::<usize>();
    }
    let seconds = started.elapsed().as_secs_f64();
    store.close().await;
    ensure!(
        written == events.len(),
        "store-sqlite wrote {written} of {} events",
        events.len()
    );
    bench.discard(&db);
    Ok(events.len() as f64 / seconds)
}

/// Batch request bodies: JSON arrays of `batch_size` events.
pub(super) fn batch_bodies(bench: &Bench, data: &DataSet) -> Vec<Bytes> {
    let mut bodies = Vec::new();
    let mut n = 0;
    while n < data.total {
        let end = (n + bench.batch_size).min(data.total);
        let events: Vec<_> = (n..end).map(|i| data.event(i).json).collect();
        bodies.push(Bytes::from(serde_json::Value::Array(events).to_string()));
        n = end;
    }
    bodies
}

#[derive(Deserialize)]
struct BatchAnswer {
    events_created: Vec<IgnoredAny>,
    events_failed: Vec<serde_json::Value>,
}

pub(super) struct HttpRun {
    pub rate: f64,
    pub retries: u64,
    pub peak: f64,
}

/// One run of `bodies` against a fresh server; `preloaded`: on a copy of run
/// `run`'s preloaded store (`build_preload`) rather than an empty file.
pub(super) async fn http_batch_run(
    bench: &Bench,
    bodies: Arc<Vec<Bytes>>,
    total: u64,
    run: usize,
    preloaded: bool,
) -> anyhow::Result<HttpRun> {
    let db = bench.path(&format!("http-batch-{run}.db"));
    crate::report::remove_sqlite(&db);
    if preloaded {
        copy_preload(bench, &db, run)?;
    }
    let (server, target, mut setup) = start_server(bench, &db).await?;
    let conns = parallel::connect(&target, bench.batch_connections).await?;
    let jobs = bodies.len();
    let started = Instant::now();
    let (created, retries) = parallel::run(conns, jobs, move |mut conn, i| {
        let body = bodies[i].clone();
        async move {
            let reply = conn
                .send(Method::POST, "/v1/events/batch", Some(body))
                .await?
                .expect(StatusCode::ACCEPTED, "POST /v1/events/batch")?;
            let answer: BatchAnswer =
                serde_json::from_slice(&reply.body).context("batch answer")?;
            if let Some(failed) = answer.events_failed.first() {
                bail!("the server refused a generated event: {failed}");
            }
            Ok((conn, answer.events_created.len() as u64))
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let created: u64 = created.iter().sum();
    ensure!(
        created == total,
        "http-batch: {created} of {total} events accepted"
    );
    let stored = stored_events(&mut setup).await?;
    ensure!(
        stored == total,
        "http-batch: {stored} of {total} events stored"
    );
    let peak = peak(&server);
    server.stop().await?;
    bench.discard(&db);
    Ok(HttpRun {
        rate: total as f64 / seconds,
        retries,
        peak,
    })
}

/// `meta.total` of `GET /v1/events`.
pub async fn stored_events(conn: &mut crate::http::Conn) -> anyhow::Result<u64> {
    let reply = conn
        .send(Method::GET, "/v1/events?take=0", None)
        .await?
        .expect(StatusCode::OK, "GET /v1/events")?;
    reply.json("GET /v1/events")?["meta"]["total"]
        .as_u64()
        .context("GET /v1/events: no meta.total")
}

pub async fn http_batch(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    eprintln!(
        "http-batch: {} events, {} per request, {} connections, against raw-sqlite, \
         after {} preloaded events",
        bench.batch_events, bench.batch_size, bench.batch_connections, bench.preload_events
    );
    let data = batch_data(bench);
    let rows = raw_rows(&data)?;
    let events = new_events(&data)?;
    let bodies = Arc::new(batch_bodies(bench, &data));
    let mb = bodies.iter().map(|b| b.len()).sum::<usize>() as f64 / 1e6;
    eprintln!("    {} requests, {mb:.1} MB of JSON", bodies.len());
    let (mut raw, mut http, mut ratio, mut retries, mut peaks) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut store, mut store_ratio) = (vec![], vec![]);
    for run in 0..bench.runs {
        // The preloads are not timed: the raw table and the store file fill
        // side by side.
        let (baseline, raw_db) = open_raw(bench, run).await?;
        tokio::try_join!(build_preload(bench, run), preload_raw(bench, &baseline))?;
        // Closed and opened again, like the store's file is copied: every
        // run starts checkpointed, with a cold page cache.
        baseline.close().await;
        let reopened = RawBaseline::open(&raw_db, &SqliteOptions::default()).await?;
        let raw_rate = time_raw(bench, (reopened, raw_db), &rows).await?;
        let store_rate = store_sqlite_run(bench, &events, run).await?;
        let preloaded = bench.preload_events > 0;
        let result = http_batch_run(bench, bodies.clone(), data.total, run, preloaded).await?;
        if bench.preload_events > 0 {
            bench.discard(&bench.path(&format!("preload-{run}.db")));
        }
        eprintln!(
            "    run {run}: raw {raw_rate:.0} events/s, store {store_rate:.0} events/s, \
             http {:.0} events/s",
            result.rate
        );
        store.push(store_rate);
        store_ratio.push(store_rate / raw_rate);
        raw.push(raw_rate);
        ratio.push(result.rate / raw_rate);
        http.push(result.rate);
        retries.push(result.retries as f64);
        peaks.push(result.peak);
    }
    report.check("http-batch", "events stored per run", data.total);
    report.add(Figure::new(
        "raw-sqlite",
        "raw multi-row insert into a minimal SQLite table",
        Unit::EventsPerSecond,
        raw,
    ));
    report.add(Figure::new(
        "store-sqlite",
        "the SQLite store alone (upsert_event_groups)",
        Unit::EventsPerSecond,
        store,
    ));
    report.add(Figure::new(
        "store-sqlite",
        "store / raw SQLite, same run",
        Unit::Ratio,
        store_ratio,
    ));
    report.add(
        Figure::new(
            "http-batch",
            "batch ingestion over HTTP",
            Unit::EventsPerSecond,
            http,
        )
        .target("≥ 100 000 events/s"),
    );
    report.add(
        Figure::new(
            "http-batch",
            "HTTP / raw SQLite, same run",
            Unit::Ratio,
            ratio,
        )
        .target("≥ 0.8 ×"),
    );
    report.add(Figure::new(
        "http-batch",
        "answers retried (503, 429)",
        Unit::Count,
        retries,
    ));
    report.add(Figure::new("http-batch", PEAK_RSS, Unit::Bytes, peaks).target(RSS_TARGET));
    Ok(())
}

/// The rows as `NewEvent`s: PostgreSQL's upsert takes a whole batch in one
/// statement, so its store call is its raw insert.
fn new_events(data: &DataSet) -> anyhow::Result<Vec<NewEvent>> {
    new_events_of(data, 0..data.total)
}

/// Events `range` of `data` as `NewEvent`s.
fn new_events_of(data: &DataSet, range: std::ops::Range<u64>) -> anyhow::Result<Vec<NewEvent>> {
    let ingested_at = Timestamp::from_datetime(chrono::Utc::now()).context("clock out of range")?;
    range
        .map(|n| {
            let (event, customer_id) = parsed(data, n)?;
            Ok(NewEvent {
                id: EventId::parse(&generate::event_id(data.seed, n))?,
                event_type: event.event_type,
                customer_id: CustomerId::parse(&customer_id)?,
                timestamp: event.timestamp,
                record: event.record,
                ingested_at,
            })
        })
        .collect()
}

pub async fn raw_postgres(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    // A given server, else a throwaway one (kept alive until the end).
    let (url, _cluster) = match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => (url, None),
        _ => match crate::postgres::Cluster::start() {
            Ok(cluster) => (cluster.url(), Some(cluster)),
            Err(error) => {
                let why =
                    format!("raw-postgres: no {POSTGRES_URL_VAR} and no local server: {error:#}");
                eprintln!("{why}; skipped");
                report.skipped.push(why);
                return Ok(());
            }
        },
    };
    eprintln!(
        "raw-postgres: {} events, transactions of {}",
        bench.batch_events, bench.batch_size
    );
    let events = new_events(&batch_data(bench))?;
    let store = PgStore::connect(&url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let mut rates = Vec::new();
    for _ in 0..bench.runs {
        // A fresh account per run: its keys start empty, the database is reused.
        let account = create_bench_account(&store).await?;
        let started = Instant::now();
        let mut written = 0;
        for chunk in events.chunks(bench.batch_size as usize) {
            written += store.upsert_events(&account, chunk).await?.len();
        }
        rates.push(events.len() as f64 / started.elapsed().as_secs_f64());
        ensure!(
            written == events.len(),
            "raw-postgres wrote {written} of {} events",
            events.len()
        );
        delete_events(&store, &account, &events).await?;
    }
    report.check("raw-postgres", "rows written per run", events.len() as u64);
    report.add(Figure::new(
        "raw-postgres",
        "raw bulk upsert into PostgreSQL",
        Unit::EventsPerSecond,
        rates,
    ));
    Ok(())
}

async fn create_bench_account(store: &PgStore) -> anyhow::Result<AccountId> {
    let billing = Billing::new(Arc::new(store.clone()));
    let name = format!("bench-{}", now_ms());
    Ok(billing.ensure_account(&name).await?.id)
}

/// Erases a run's events, so that the next run and the database stay small.
async fn delete_events(
    store: &PgStore,
    account: &AccountId,
    events: &[NewEvent],
) -> anyhow::Result<()> {
    for kind in generate::EVENT_TYPES {
        let event_type = EventType::parse(kind.event_type())?;
        let ids: Vec<RecordId> = events
            .iter()
            .filter(|e| e.event_type == event_type)
            .map(|e| e.record.id().clone())
            .collect();
        // A purge, not a deletion: a deletion keeps every version.
        for chunk in ids.chunks(5000) {
            store.purge_events(account, &event_type, chunk).await?;
        }
    }
    Ok(())
}
