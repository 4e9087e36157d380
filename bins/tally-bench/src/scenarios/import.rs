//! `tally import` of the http-batch events from an NDJSON file: into a fresh
//! SQLite file, and through a fresh server with `--url`, next to http-batch
//! in the same run. Each import is the `tally` binary as a user runs it,
//! with its default batch size, timed from start to exit.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use tokio::process::Command;

use super::ingest::{batch_bodies, batch_data, http_batch_run, stored_events};
use super::{peak, start_server};
use crate::Bench;
use crate::generate::DataSet;
use crate::report::{Figure, Report, Unit};
use crate::server::BENCH_API_KEY;

/// The events of `data`, one JSON object per line.
fn write_ndjson(data: &DataSet, path: &Path) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for n in 0..data.total {
        serde_json::to_writer(&mut out, &data.event(n).json)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Runs `tally ARGS` to its end; its standard output, or an error with its
/// standard error.
async fn tally(bench: &Bench, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(&bench.tally)
        .args(args)
        .env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_API_KEY")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {}", bench.tally.display()))?;
    if !output.status.success() {
        bail!(
            "tally {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Fails unless the import's summary says every event was created.
fn check_summary(summary: &str, total: u64) -> anyhow::Result<()> {
    let expected = format!("{total} events: {total} accepted ({total} created,");
    ensure!(
        summary.starts_with(&expected),
        "tally import: expected {expected:?}, got {summary:?}"
    );
    Ok(())
}

/// One import into a fresh SQLite file (its account created first, not
/// timed): events/s.
async fn into_database(bench: &Bench, file: &Path, total: u64, run: usize) -> anyhow::Result<f64> {
    let db = bench.path(&format!("import-sqlite-{run}.db"));
    crate::report::remove_sqlite(&db);
    let url = format!("sqlite://{}", db.display());
    tally(
        bench,
        &[
            "keys",
            "create",
            "--account",
            "default",
            "--database-url",
            &url,
        ],
    )
    .await?;
    let file = file.to_string_lossy();
    let args = [
        "import",
        &file,
        "--account",
        "default",
        "--database-url",
        &url,
    ];
    let started = Instant::now();
    let summary = tally(bench, &args).await?;
    let seconds = started.elapsed().as_secs_f64();
    check_summary(&summary, total)?;
    bench.discard(&db);
    Ok(total as f64 / seconds)
}

/// One import through a fresh server: events/s and the server's peak memory.
async fn through_server(
    bench: &Bench,
    file: &Path,
    total: u64,
    run: usize,
) -> anyhow::Result<(f64, f64)> {
    let db = bench.path(&format!("import-url-{run}.db"));
    crate::report::remove_sqlite(&db);
    let (server, _, mut setup) = start_server(bench, &db).await?;
    let base = format!("http://{}", server.addr);
    let file = file.to_string_lossy();
    let args = ["import", &file, "--url", &base, "--api-key", BENCH_API_KEY];
    let started = Instant::now();
    let summary = tally(bench, &args).await?;
    let seconds = started.elapsed().as_secs_f64();
    check_summary(&summary, total)?;
    let stored = stored_events(&mut setup).await?;
    ensure!(
        stored == total,
        "import --url: {stored} of {total} events stored"
    );
    let peak = peak(&server);
    server.stop().await?;
    bench.discard(&db);
    Ok((total as f64 / seconds, peak))
}

pub async fn import(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    eprintln!(
        "import: {} events from NDJSON into SQLite and through a server, against http-batch \
         ({} per request, {} connections)",
        bench.batch_events, bench.batch_size, bench.batch_connections
    );
    let data = batch_data(bench);
    let file = bench.path("import-events.ndjson");
    let bytes = write_ndjson(&data, &file)?;
    eprintln!("    {}: {:.1} MB", file.display(), bytes as f64 / 1e6);
    let bodies = Arc::new(batch_bodies(bench, &data));
    let (mut http, mut database, mut url) = (vec![], vec![], vec![]);
    let (mut database_ratio, mut url_ratio) = (vec![], vec![]);
    let (mut batch_peaks, mut url_peaks) = (vec![], vec![]);
    for run in 0..bench.runs {
        let batch = http_batch_run(bench, bodies.clone(), data.total, run, false).await?;
        let into_db = into_database(bench, &file, data.total, run).await?;
        let (through, peak) = through_server(bench, &file, data.total, run).await?;
        eprintln!(
            "    run {run}: http-batch {:.0} events/s, import into SQLite {into_db:.0} events/s, \
             import --url {through:.0} events/s",
            batch.rate
        );
        database_ratio.push(into_db / batch.rate);
        url_ratio.push(through / batch.rate);
        http.push(batch.rate);
        database.push(into_db);
        url.push(through);
        batch_peaks.push(batch.peak);
        url_peaks.push(peak);
    }
    if !bench.keep {
        let _ = std::fs::remove_file(&file);
    }
    report.check("import", "events imported per run", data.total);
    report.add(Figure::new(
        "import",
        "batch ingestion over HTTP (http-batch), same run",
        Unit::EventsPerSecond,
        http,
    ));
    report.add(Figure::new(
        "import",
        "tally import into SQLite",
        Unit::EventsPerSecond,
        database,
    ));
    report.add(
        Figure::new(
            "import",
            "tally import into SQLite / http-batch",
            Unit::Ratio,
            database_ratio,
        )
        .target("≥ 1 ×"),
    );
    report.add(Figure::new(
        "import",
        "tally import --url",
        Unit::EventsPerSecond,
        url,
    ));
    report.add(
        Figure::new(
            "import",
            "tally import --url / http-batch",
            Unit::Ratio,
            url_ratio,
        )
        .target("≥ 1 ×"),
    );
    report.add(Figure::new(
        "import",
        "server peak RSS (VmHWM) under http-batch",
        Unit::Bytes,
        batch_peaks,
    ));
    report.add(Figure::new(
        "import",
        "server peak RSS (VmHWM) under tally import --url",
        Unit::Bytes,
        url_peaks,
    ));
    Ok(())
}
