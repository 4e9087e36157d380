//! `POST /v1/events` one event at a time over many keep-alive connections:
//! events/s and the latency of each request, on a fresh database per run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::ensure;
use hyper::body::Bytes;
use hyper::{Method, StatusCode};

use super::ingest::stored_events;
use super::{PEAK_RSS, RSS_TARGET, data_set, peak, start_server};
use crate::Bench;
use crate::generate::Mix;
use crate::parallel;
use crate::report::{Figure, Report, Unit};

/// The `q`-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub async fn http_single(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    eprintln!(
        "http-single: {} events, {} keep-alive connections",
        bench.single_events, bench.single_connections
    );
    let data = data_set(bench, 1, bench.single_events, bench.customers, Mix::Mixed);
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..data.total)
            .map(|n| Bytes::from(data.event(n).json.to_string()))
            .collect(),
    );
    let (mut rates, mut p50s, mut p99s, mut retries, mut peaks) =
        (vec![], vec![], vec![], vec![], vec![]);
    for run in 0..bench.runs {
        let db = bench.path(&format!("http-single-{run}.db"));
        crate::report::remove_sqlite(&db);
        let (server, target, mut setup) = start_server(bench, &db).await?;
        let conns = parallel::connect(&target, bench.single_connections).await?;
        let jobs = bodies.len();
        let shared = bodies.clone();
        let started = Instant::now();
        let (latencies, run_retries) = parallel::run(conns, jobs, move |mut conn, i| {
            let body = shared[i].clone();
            async move {
                let sent = Instant::now();
                conn.send(Method::POST, "/v1/events", Some(body))
                    .await?
                    .expect(StatusCode::ACCEPTED, "POST /v1/events")?;
                Ok((conn, sent.elapsed().as_secs_f64() * 1000.0))
            }
        })
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let stored = stored_events(&mut setup).await?;
        ensure!(
            stored == data.total,
            "http-single: {stored} of {} events stored",
            data.total
        );
        let mut sorted = latencies;
        sorted.sort_by(f64::total_cmp);
        let rate = data.total as f64 / seconds;
        eprintln!(
            "    run {run}: {rate:.0} events/s, p50 {:.2} ms, p99 {:.2} ms",
            quantile(&sorted, 0.5),
            quantile(&sorted, 0.99)
        );
        rates.push(rate);
        p50s.push(quantile(&sorted, 0.5));
        p99s.push(quantile(&sorted, 0.99));
        retries.push(run_retries as f64);
        peaks.push(peak(&server));
        server.stop().await?;
        bench.discard(&db);
    }
    report.check("http-single", "events stored per run", data.total);
    report.add(
        Figure::new(
            "http-single",
            "single-event POSTs",
            Unit::EventsPerSecond,
            rates,
        )
        .target("≥ 20 000 events/s"),
    );
    report.add(Figure::new(
        "http-single",
        "latency p50",
        Unit::Milliseconds,
        p50s,
    ));
    report.add(Figure::new(
        "http-single",
        "latency p99",
        Unit::Milliseconds,
        p99s,
    ));
    report.add(Figure::new(
        "http-single",
        "answers retried (503, 429)",
        Unit::Count,
        retries,
    ));
    report.add(Figure::new("http-single", PEAK_RSS, Unit::Bytes, peaks).target(RSS_TARGET));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
