//! Counters exposed at `GET /metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Route → the latency histogram of its answers.
    latency: Mutex<BTreeMap<String, Histogram>>,
}

/// The upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at or under each bound (not cumulative; summed when rendered).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Each counter's name and help text; the text format wants both before the samples.
const HELP: &[(&str, &str)] = &[
    (
        "upstream_requests_total",
        "Requests answered, by route and status.",
    ),
    (
        "upstream_uploads_stored_total",
        "Uploads made durable, by channel.",
    ),
    (
        "upstream_uploads_replayed_total",
        "Retries answered with an existing receipt.",
    ),
    (
        "upstream_bytes_received_total",
        "Request body bytes received (compressed).",
    ),
    ("upstream_faults_injected_total", "Faults applied, by kind."),
];

impl Metrics {
    /// Adds `by` to the counter `name` with the given label set (already formatted, e.g.
    /// `route="/v1/usage",status="201"`).
    pub fn add(&self, name: &'static str, labels: String, by: u64) {
        debug_assert!(
            HELP.iter().any(|(n, _)| *n == name),
            "undeclared metric {name}"
        );
        *self
            .counters
            .lock()
            .expect("metrics poisoned")
            .entry((name, labels))
            .or_default() += by;
    }

    /// Records one answer's latency on `route`.
    pub fn observe_latency(&self, route: &str, seconds: f64) {
        let mut latency = self.latency.lock().expect("metrics poisoned");
        let histogram = latency.entry(route.to_string()).or_default();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            histogram.buckets[i] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    pub fn render(&self) -> String {
        let counters = self.counters.lock().expect("metrics poisoned");
        let mut out = String::new();
        let name = "upstream_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer a request, by route.\n# TYPE {name} histogram"
        );
        for (route, h) in self.latency.lock().expect("metrics poisoned").iter() {
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n{name}_sum{{route=\"{route}\"}} {}\n{name}_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut any = false;
            let samples = counters
                .range((*name, String::new())..)
                .take_while(|((n, _), _)| n == name);
            for ((_, labels), value) in samples {
                any = true;
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
            if !any {
                let _ = writeln!(out, "{name} 0");
            }
        }
        out
    }
}
