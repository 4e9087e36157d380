//! Prometheus metrics, written by hand in the text exposition format.
//!
//! Three families are enough for the server: requests by route, method and status,
//! request latency as a histogram by route, and events ingested by outcome. A
//! mutex-guarded map per family costs one uncontended lock per request, well
//! below the cost of the request itself, and avoids a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (bucket, bound) in self.counts.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Every metric the server exposes on `GET /metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    ingested: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one finished request. `route` is the matched route template
    /// (`/v1/customers/{id}`), never the raw path, to keep label sets bounded.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let key = (route.to_owned(), method.to_owned(), status);
        *lock(&self.requests).entry(key).or_default() += 1;
        lock(&self.latency)
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts ingested events by outcome (`created`, `updated`, `stale`,
    /// `unchanged`, `failed`).
    pub fn record_ingested(&self, outcome: &'static str, count: u64) {
        *lock(&self.ingested).entry(outcome).or_default() += count;
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        self.render_ingested(&mut out);
        out
    }

    fn render_requests(&self, out: &mut String) {
        out.push_str(
            "# HELP tally_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE tally_http_requests_total counter\n");
        for ((route, method, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "tally_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
                escape(route),
                escape(method),
            );
        }
    }

    fn render_latency(&self, out: &mut String) {
        out.push_str("# HELP tally_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE tally_http_request_duration_seconds histogram\n");
        for (route, histogram) in lock(&self.latency).iter() {
            let route = escape(route);
            let name = "tally_http_request_duration_seconds";
            for (count, bound) in histogram.counts.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let total = histogram.count;
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {total}");
        }
    }

    fn render_ingested(&self, out: &mut String) {
        out.push_str("# HELP tally_events_ingested_total Events received, by outcome.\n");
        out.push_str("# TYPE tally_events_ingested_total counter\n");
        for (outcome, count) in lock(&self.ingested).iter() {
            let _ = writeln!(
                out,
                "tally_events_ingested_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
    }
}

/// The group-commit queue as two gauges: events queued or being written now,
/// and the bound past which ingestion answers `503 overloaded`.
pub fn render_ingest_queue(out: &mut String, queued: usize, bound: usize) {
    out.push_str("# HELP tally_ingest_queue_events Events queued or being written now.\n");
    out.push_str("# TYPE tally_ingest_queue_events gauge\n");
    let _ = writeln!(out, "tally_ingest_queue_events {queued}");
    out.push_str(
        "# HELP tally_ingest_queue_capacity_events Queued events past which ingestion is refused.\n",
    );
    out.push_str("# TYPE tally_ingest_queue_capacity_events gauge\n");
    let _ = writeln!(out, "tally_ingest_queue_capacity_events {bound}");
}

/// Metrics are plain counters: a poisoned lock still holds usable numbers.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::default();
        metrics.record_request("/v1/events", "POST", 202, Duration::from_millis(3));
        metrics.record_ingested("created", 2);
        let text = metrics.render();
        assert!(text.contains(
            "tally_http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"202\"} 1"
        ));
        assert!(text.contains(
            "tally_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "tally_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.001\"} 0"
        ));
        assert!(text.contains("tally_events_ingested_total{outcome=\"created\"} 2"));
    }
}
