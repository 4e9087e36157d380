//! The scenarios, each measuring its figures `--runs` times.

mod customer;
mod import;
mod ingest;
mod invoice;
mod rollup_ingest;
mod single;

use chrono::Utc;

use crate::Bench;
use crate::Scenario;
use crate::generate::{DataSet, Mix, bench_month};
use crate::http::{Conn, Target};
use crate::report::{Figure, Report, Unit};
use crate::server::{BENCH_API_KEY, Server};

/// The name of the figure every scenario reports for its server.
pub const PEAK_RSS: &str = "server peak RSS (VmHWM)";

/// The server memory target (docs/PERFORMANCE.md, "Targets"): 100 MB plus
/// the default page caches (64 MiB for the writer, 16 MiB for each of 4 readers).
pub const RSS_TARGET: &str = "≤ 228 MB";

pub async fn run(scenario: Scenario, bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    match scenario {
        Scenario::All => {
            ingest::http_batch(bench, report).await?;
            ingest::raw_postgres(bench, report).await?;
            single::http_single(bench, report).await?;
            customer::usage_and_export(bench, report, true, true).await?;
            rollup_ingest::rollup_ingest(bench, report).await?;
            invoice::invoice(bench, report).await?;
            overall_peak(report);
        }
        Scenario::RawSqlite => ingest::raw_sqlite(bench, report).await?,
        Scenario::RawPostgres => ingest::raw_postgres(bench, report).await?,
        Scenario::HttpBatch => ingest::http_batch(bench, report).await?,
        Scenario::HttpSingle => single::http_single(bench, report).await?,
        Scenario::Import => import::import(bench, report).await?,
        Scenario::Usage => customer::usage_and_export(bench, report, true, false).await?,
        Scenario::Export => customer::usage_and_export(bench, report, false, true).await?,
        Scenario::Invoice => invoice::invoice(bench, report).await?,
        Scenario::RollupIngest => rollup_ingest::rollup_ingest(bench, report).await?,
    }
    Ok(())
}

/// The highest server peak of every scenario, run by run.
fn overall_peak(report: &mut Report) {
    let peaks: Vec<&Figure> = report
        .figures
        .iter()
        .filter(|f| f.name == PEAK_RSS)
        .collect();
    let Some(runs) = peaks.iter().map(|f| f.runs.len()).min() else {
        return;
    };
    let per_run = (0..runs)
        .map(|r| peaks.iter().map(|f| f.runs[r]).fold(0.0, f64::max))
        .collect();
    report.add(
        Figure::new(
            "all",
            "server peak RSS over every scenario",
            Unit::Bytes,
            per_run,
        )
        .target(RSS_TARGET),
    );
}

/// A data set in the benchmark month.
pub fn data_set(bench: &Bench, seed_offset: u64, total: u64, customers: u64, mix: Mix) -> DataSet {
    let (start, end) = bench_month();
    DataSet {
        seed: bench.seed.wrapping_add(seed_offset),
        total,
        customers,
        mix,
        month_start_ms: start.timestamp_millis(),
        month_ms: (end - start).num_milliseconds(),
    }
}

/// A server on `db`, logging beside it, with a connection for setup.
pub async fn start_server(
    bench: &Bench,
    db: &std::path::Path,
) -> anyhow::Result<(Server, Target, Conn)> {
    let log = db.with_extension("log");
    let server = Server::start(&bench.tally, db, &log).await?;
    let target = Target {
        addr: server.addr,
        key: BENCH_API_KEY.to_owned(),
    };
    let conn = Conn::open(&target).await?;
    Ok((server, target, conn))
}

/// The peak memory of a server, in bytes (0 where `/proc` is missing).
pub fn peak(server: &Server) -> f64 {
    server.memory().map_or(0.0, |m| m.peak as f64)
}

/// Now, for `ingested_at` of raw rows.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
