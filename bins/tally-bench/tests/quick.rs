//! Runs `tally-bench all` at a tiny scale against a freshly built `tally` and
//! checks what each scenario stored, counted and exported: the figures
//! themselves are timings and are only checked to exist.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The `tally` binary of the same profile, built now so that it is current.
/// `TALLY_BENCH_TALLY` names another one instead.
fn tally_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TALLY_BENCH_TALLY") {
        return PathBuf::from(path);
    }
    let bench = Path::new(env!("CARGO_BIN_EXE_tally-bench"));
    let profile_dir = bench
        .parent()
        .expect("the binary is in a profile directory");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "tally", "--bin", "tally"]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p tally failed");
    profile_dir.join(format!("tally{}", std::env::consts::EXE_SUFFIX))
}

fn check(report: &Value, scenario: &str, name: &str) -> u64 {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["scenario"] == scenario && c["name"] == name)
        .and_then(|c| c["value"].as_u64())
        .unwrap_or_else(|| panic!("no check {scenario}/{name} in {report}"))
}

fn figure<'a>(report: &'a Value, scenario: &str, name: &str) -> &'a Value {
    report["figures"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["scenario"] == scenario && f["name"] == name)
        .unwrap_or_else(|| panic!("no figure {scenario}/{name} in {report}"))
}

#[test]
fn every_scenario_measures_what_it_stored() {
    let tally = tally_binary();
    let work = std::env::temp_dir().join(format!("tally-bench-quick-{}", std::process::id()));
    let json = work.join("results.json");
    std::fs::create_dir_all(&work).expect("work dir");
    let output = Command::new(env!("CARGO_BIN_EXE_tally-bench"))
        .args(["all", "--quick", "--runs", "2", "--customers", "30"])
        .args([
            "--batch-events",
            "3000",
            "--batch-size",
            "500",
            "--single-events",
            "300",
        ])
        .args([
            "--customer-events",
            "2000",
            "--invoice-events",
            "3000",
            "--subscriptions",
            "40",
        ])
        .arg("--tally")
        .arg(&tally)
        .arg("--work-dir")
        .arg(&work)
        .arg("--json")
        .arg(&json)
        .env_remove("TALLY_BENCH_POSTGRES_URL")
        .output()
        .expect("tally-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tally-bench failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).expect("results written"))
        .expect("results are JSON");

    assert_eq!(check(&report, "http-batch", "events stored per run"), 3000);
    assert_eq!(check(&report, "http-single", "events stored per run"), 300);
    assert_eq!(check(&report, "usage", "events counted"), 2000);
    assert_eq!(check(&report, "rollup-ingest", "events per load"), 3000);
    assert_eq!(check(&report, "export", "csv rows per run"), 2000);
    assert_eq!(check(&report, "invoice", "invoices created per run"), 40);
    // About 60 % of a mixed set are api calls, all billed.
    let calls = check(&report, "invoice", "api calls billed per run");
    assert!(
        (1200..=2400).contains(&calls),
        "{calls} api calls billed of 3000 events"
    );

    for (scenario, name) in [
        (
            "raw-sqlite",
            "raw multi-row insert into a minimal SQLite table",
        ),
        ("http-batch", "batch ingestion over HTTP"),
        ("http-batch", "HTTP / raw SQLite, same run"),
        ("http-single", "single-event POSTs"),
        ("http-single", "latency p99"),
        (
            "usage",
            "usage of one customer-month, sum, 2000 stored events: p99",
        ),
        (
            "usage",
            "usage of one customer-month, unique_count, 2000 stored events: p99",
        ),
        (
            "usage",
            "usage-limit check over the customer's 2000 events, 2000 stored: p99",
        ),
        (
            "rollup-ingest",
            "cost of 5 aggregators: time with / time without, same run",
        ),
        ("export", "CSV export"),
        ("invoice", "40 invoices over 3000 events"),
    ] {
        let f = figure(&report, scenario, name);
        let runs = f["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2, "{scenario}/{name}: {f}");
        assert!(
            runs.iter().all(|v| v.as_f64().is_some_and(|v| v > 0.0)),
            "{scenario}/{name}: {f}"
        );
        let (min, median, max) = (f["min"].as_f64(), f["median"].as_f64(), f["max"].as_f64());
        assert!(min <= median && median <= max, "{scenario}/{name}: {f}");
    }
    if cfg!(target_os = "linux") {
        let peak = figure(&report, "all", "server peak RSS over every scenario");
        assert!(
            peak["max"]
                .as_f64()
                .is_some_and(|bytes| bytes > 1_000_000.0),
            "{peak}"
        );
    }
    // PostgreSQL runs where a local server can be started, else is skipped
    // with the reason.
    let skipped = report["skipped"].as_array().expect("skipped").clone();
    if skipped.is_empty() {
        assert_eq!(check(&report, "raw-postgres", "rows written per run"), 3000);
    } else {
        assert!(
            skipped[0]
                .as_str()
                .is_some_and(|s| s.starts_with("raw-postgres")),
            "{skipped:?}"
        );
    }

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("| scenario | figure | median | min | max | target |"),
        "{stdout}"
    );
    // Every database was deleted, only logs and results stay.
    let left: Vec<_> = std::fs::read_dir(&work)
        .expect("work dir")
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|name| name.contains(".db"))
        .collect();
    assert!(left.is_empty(), "databases left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&work);
}
