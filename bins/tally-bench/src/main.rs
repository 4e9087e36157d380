//! `tally-bench`: the reproducible benchmarks of docs/PERFORMANCE.md against the real
//! server.
//!
//! Each scenario starts the release `tally` binary as a child process on a
//! fresh SQLite file, drives it over kept-alive HTTP/1 connections and reads
//! its memory from `/proc`. Every figure is measured `--runs` times and
//! reported as the median with the min and max, as a markdown table on
//! standard output and, with `--json`, as JSON. docs/PERFORMANCE.md
//! ("Benchmark tool") describes each scenario.

mod generate;
mod http;
mod load;
mod parallel;
mod postgres;
mod report;
mod scenarios;
mod server;
mod setup;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::report::Report;

/// Benchmarks of the Tally server (docs/PERFORMANCE.md).
#[derive(Debug, Parser)]
#[command(name = "tally-bench")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum Scenario {
    /// Every scenario below, in order (raw-sqlite runs inside http-batch).
    All,
    /// Bulk upsert of the generated rows straight into SQLite, no server.
    RawSqlite,
    /// The same rows into PostgreSQL (TALLY_BENCH_POSTGRES_URL, else a
    /// throwaway local server).
    RawPostgres,
    /// POST /v1/events/batch over several connections, next to raw-sqlite.
    HttpBatch,
    /// POST /v1/events over many keep-alive connections: rate and latency.
    HttpSingle,
    /// `tally import` of the http-batch events from NDJSON, into SQLite and
    /// through a server, next to http-batch (not part of `all`).
    Import,
    /// One customer-month's usage over its events, for five operations,
    /// served by rollups (their backfill timed first).
    Usage,
    /// Library ingestion into a database with five aggregators on the event
    /// type, next to one without (rollup maintenance's cost).
    RollupIngest,
    /// Invoices for every subscription over a month of events.
    Invoice,
    /// The CSV export of a subscription's events: rows/s and server memory.
    Export,
}

/// Flags every scenario shares; sizes default to those of the targets (docs/PERFORMANCE.md).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Runs of each measurement; figures are their median, min and max
    /// [default: 3, 2 with --quick].
    #[arg(long, global = true)]
    runs: Option<usize>,
    /// Tiny sizes: a smoke test of every scenario in seconds.
    #[arg(long, global = true)]
    quick: bool,
    /// Also write the results as JSON here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Directory for databases and server logs [default: the target directory's tally-bench].
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    /// Keep each scenario's databases instead of deleting them.
    #[arg(long, global = true)]
    keep: bool,
    /// The `tally` binary to serve with [default: beside this binary].
    #[arg(long, global = true)]
    tally: Option<PathBuf>,
    /// Seed of the event generator.
    #[arg(long, global = true, default_value_t = 2025)]
    seed: u64,
    /// Customers of the generated events (http-batch, http-single, invoice)
    /// [default: 10000; 50 with --quick].
    #[arg(long, global = true)]
    customers: Option<u64>,
    /// Events of http-batch, raw-* and import [default: 1000000; 5000 with --quick].
    #[arg(long, global = true)]
    batch_events: Option<u64>,
    /// Events stored in http-batch's three databases (raw, store, server)
    /// before its timed ingestion, under another account, so the timed
    /// events go into tables already that large [default: 0].
    #[arg(long, global = true, default_value_t = 0)]
    preload_events: u64,
    /// Events per batch request and per raw transaction.
    #[arg(long, global = true, default_value_t = 1000)]
    batch_size: u64,
    /// Connections of http-batch.
    #[arg(long, global = true, default_value_t = 4)]
    batch_connections: usize,
    /// Events of http-single [default: 100000; 1000 with --quick].
    #[arg(long, global = true)]
    single_events: Option<u64>,
    /// Keep-alive connections of http-single.
    #[arg(long, global = true, default_value_t = 64)]
    single_connections: usize,
    /// Events of the one customer of usage and export [default: 1000000; 4000
    /// with --quick].
    #[arg(long, global = true)]
    customer_events: Option<u64>,
    /// Events of invoice [default: 10000000; 6000 with --quick].
    #[arg(long, global = true)]
    invoice_events: Option<u64>,
    /// Subscriptions (one per customer) of invoice [default: 10000; 100 with --quick].
    #[arg(long, global = true)]
    subscriptions: Option<u64>,
    /// Connections creating subscriptions and invoices at once.
    #[arg(long, global = true, default_value_t = 8)]
    invoice_connections: usize,
    /// Events of other customers stored before the usage customer's, so its
    /// month is read in a bigger history [default: 0].
    #[arg(long, global = true, default_value_t = 0)]
    history_events: u64,
    /// Timed usage requests per aggregator and run (p50 and p99 of them)
    /// [default: 200; 20 with --quick].
    #[arg(long, global = true)]
    usage_requests: Option<u64>,
}

/// Sizes and settings once the defaults are resolved.
#[derive(Debug, Clone)]
pub struct Bench {
    pub tally: PathBuf,
    pub work: PathBuf,
    pub runs: usize,
    pub keep: bool,
    pub seed: u64,
    pub customers: u64,
    pub batch_events: u64,
    pub preload_events: u64,
    pub batch_size: u64,
    pub batch_connections: usize,
    pub single_events: u64,
    pub single_connections: usize,
    pub customer_events: u64,
    pub invoice_events: u64,
    pub subscriptions: u64,
    pub invoice_connections: usize,
    pub history_events: u64,
    pub usage_requests: u64,
}

impl Bench {
    fn new(options: &Options) -> anyhow::Result<Bench> {
        let quick = options.quick;
        let size = |given: Option<u64>, full: u64, small: u64| {
            given.unwrap_or(if quick { small } else { full })
        };
        let runs = options.runs.unwrap_or(if quick { 2 } else { 3 });
        anyhow::ensure!(runs > 0, "--runs must be at least 1");
        anyhow::ensure!(
            (1..=5000).contains(&options.batch_size),
            "--batch-size must be 1..=5000 (the API's batch limit)"
        );
        let work = match &options.work_dir {
            Some(dir) => dir.clone(),
            None => default_work_dir(),
        };
        std::fs::create_dir_all(&work)
            .with_context(|| format!("cannot create {}", work.display()))?;
        let bench = Bench {
            tally: server::locate_tally(options.tally.as_deref())?,
            work: work.canonicalize().unwrap_or(work),
            runs,
            keep: options.keep,
            seed: options.seed,
            customers: size(options.customers, 10_000, 50).max(1),
            batch_events: size(options.batch_events, 1_000_000, 5_000).max(1),
            preload_events: options.preload_events,
            batch_size: options.batch_size,
            batch_connections: options.batch_connections.max(1),
            single_events: size(options.single_events, 100_000, 1_000).max(1),
            single_connections: options.single_connections.max(1),
            customer_events: size(options.customer_events, 1_000_000, 4_000).max(1),
            invoice_events: size(options.invoice_events, 10_000_000, 6_000).max(1),
            subscriptions: size(options.subscriptions, 10_000, 100).max(1),
            invoice_connections: options.invoice_connections.max(1),
            history_events: options.history_events,
            usage_requests: size(options.usage_requests, 200, 20).max(1),
        };
        Ok(bench)
    }

    /// A path in the work directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// Deletes a database unless `--keep`, saying how big it was.
    pub fn discard(&self, db: &Path) {
        eprintln!(
            "    {}: {:.1} MB{}",
            db.display(),
            report::sqlite_size(db) as f64 / 1_000_000.0,
            if self.keep { ", kept" } else { ", deleted" }
        );
        if !self.keep {
            report::remove_sqlite(db);
        }
    }
}

/// `$CARGO_TARGET_DIR/tally-bench`, else `target/tally-bench`.
fn default_work_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("tally-bench")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let bench = Bench::new(&cli.options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        runs: bench.runs,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        ..Report::default()
    };
    eprintln!(
        "work directory: {}, {} runs each",
        bench.work.display(),
        bench.runs
    );
    runtime.block_on(scenarios::run(cli.scenario, &bench, &mut report))?;
    if let Some(path) = &cli.options.json {
        report.write_json(path)?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(report.markdown().as_bytes())?;
    out.flush()?;
    Ok(())
}
