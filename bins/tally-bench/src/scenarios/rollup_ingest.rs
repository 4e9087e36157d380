//! What keeping rollups costs ingestion: the same `api_call` events loaded
//! through the library into a fresh database without aggregators and into
//! one with five aggregators on `api_call` (count, sum, max, unique_count, a
//! formula), whose rollups every batch then updates in its transaction.
//! The two loads alternate in each run, so drift of the machine falls on
//! both.

use anyhow::ensure;
use serde_json::json;

use super::data_set;
use crate::Bench;
use crate::generate::{EventKind, Mix};
use crate::load::load_sqlite_with;
use crate::report::{Figure, Report, Unit};

fn aggregators() -> Vec<serde_json::Value> {
    vec![
        json!({"name": "calls", "event_type": "api_call", "operation": "count"}),
        json!({"name": "time", "event_type": "api_call", "operation": "sum", "property": "duration_ms"}),
        json!({"name": "slowest", "event_type": "api_call", "operation": "max", "property": "duration_ms"}),
        json!({"name": "endpoints", "event_type": "api_call", "operation": "unique_count", "property": "endpoint"}),
        json!({"name": "seconds", "event_type": "api_call", "operation": "formula",
               "formula": "sum(duration_ms) / 1000 + count(*) * 2"}),
    ]
}

pub async fn rollup_ingest(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let data = data_set(
        bench,
        4,
        bench.batch_events,
        bench.customers,
        Mix::Only(EventKind::ApiCall),
    );
    eprintln!(
        "rollup-ingest: {} api_call events of {} customers, without and with 5 aggregators, {} runs",
        data.total, data.customers, bench.runs
    );
    let (mut without, mut with, mut ratios) = (vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let mut rates = [0.0; 2];
        // Alternate which goes first.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let db = bench.path(&format!("rollup-ingest-{side}.db"));
            crate::report::remove_sqlite(&db);
            let definitions = if side == 1 { aggregators() } else { vec![] };
            let loaded = load_sqlite_with(&db, &data, &definitions).await?;
            ensure!(
                loaded.stored == data.total,
                "loaded {} of {}",
                loaded.stored,
                data.total
            );
            rates[side] = loaded.stored as f64 / loaded.seconds;
            bench.discard(&db);
        }
        eprintln!(
            "    run {run}: {:.0} events/s without aggregators, {:.0} with 5",
            rates[0], rates[1]
        );
        without.push(rates[0]);
        with.push(rates[1]);
        ratios.push(rates[0] / rates[1]);
    }
    report.check("rollup-ingest", "events per load", data.total);
    report.add(Figure::new(
        "rollup-ingest",
        "ingestion without aggregators",
        Unit::EventsPerSecond,
        without,
    ));
    report.add(Figure::new(
        "rollup-ingest",
        "ingestion with 5 aggregators (rollups kept)",
        Unit::EventsPerSecond,
        with,
    ));
    report.add(
        Figure::new(
            "rollup-ingest",
            "cost of 5 aggregators: time with / time without, same run",
            Unit::Ratio,
            ratios,
        )
        .target("≤ 1.25 ×"),
    );
    Ok(())
}
