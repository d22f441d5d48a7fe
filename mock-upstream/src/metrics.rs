//! Counters exposed at `GET /metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
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

    pub fn render(&self) -> String {
        let counters = self.counters.lock().expect("metrics poisoned");
        let mut out = String::new();
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
