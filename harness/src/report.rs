//! What a run tells: `report.json` for machines, a short summary for people, and JUnit XML for
//! CI systems (each scenario a suite, each check a test case).

pub(crate) mod html;

use std::path::Path;

use serde::Serialize;

use crate::finding::{Check, Finding, FindingCode, Severity};
use crate::scenario::{Expect, Outcome};

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct StageTimings {
    pub total_ms: f64,
    pub seed_ms: f64,
    pub collect_ms: f64,
    pub replicate_ms: f64,
    pub submit_ms: f64,
    pub check_ms: f64,
}

impl StageTimings {
    pub fn with_total(mut self, total_ms: f64) -> Self {
        self.total_ms = total_ms;
        self
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SiteSeeding {
    pub site: String,
    pub clients: u32,
    pub rows: u64,
    pub ms: f64,
    pub rows_per_s: f64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProbeTiming {
    pub week: u32,
    pub site: String,
    pub probe: String,
    pub rows: u64,
    /// Wall time; with `--repeat N`, the median of the N runs.
    pub ms: f64,
    /// With `--repeat N`: each run's wall time, for the spread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_ms: Vec<f64>,
    /// CPU time of the thread that ran it (median with `--repeat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// With `--repeat N`: each run's CPU time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_samples_ms: Vec<f64>,
    /// The probe failed at this site (a `probe_error` finding): its time is not its query's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// SQLite's virtual-machine steps for the query: the same on a busy machine as on an idle
    /// one, so a budget or `compare` on it does not flake (embedded engine only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_steps: Option<u64>,
}

/// One upload (online) or `-connect` (offline) of a week, with every attempt it made.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UploadAttempt {
    pub week: u32,
    /// Attempts made, whether or not the last one succeeded.
    pub attempts: u32,
    pub ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every attempt: when, how long, the status or error, `Retry-After`, the wait after it.
    pub attempt_log: Vec<usage_protocol::client::Attempt>,
    /// Waited between its attempts, in seconds (simulated in scenario runs).
    pub waited_s: f64,
    /// A batch staged in an earlier check, sent again from the outbox (its bytes keep their
    /// first cycle).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
    /// The `Idempotency-Key` the attempts carried (online); kept in the run's `attempts.jsonl`,
    /// not in `report.json`.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// When the upload began, in seconds since the Unix epoch (wall clock): the checker tells
    /// by it which cycle's check the service stored an upload in, even when no answer came back.
    /// Kept in `attempts.jsonl`.
    #[serde(skip)]
    pub began_at: Option<f64>,
}

/// Writes a report whole (never half) and readable by all, like any file a person shares: the
/// atomic writer makes its files private.
pub fn write_readable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A report replaces a report: never a device, a pipe, a folder or a link (the rename would
    // put a plain file where `/dev/null` was, or cut a link the user made).
    if let Ok(existing) = std::fs::symlink_metadata(path)
        && !existing.is_file()
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a regular file: refusing to replace it",
                path.display()
            ),
        ));
    }
    usage_protocol::durable::write_file(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// Where `path` leads: the file itself when it exists; otherwise its nearest existing folder
/// resolved (links followed) with the rest of the path after it, `..` taken lexically.
pub fn resolved(path: &Path) -> std::path::PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut lexical = std::path::PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::ParentDir => {
                lexical.pop();
            }
            std::path::Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => {
                rest.push(name.to_os_string());
                existing.pop();
            }
            None => break,
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    out.extend(rest.iter().rev());
    out
}

/// Refuses an output path that names the same file as one of `others` (what the command reads,
/// or its other outputs): `compare --html base.json` must not replace the report with a page.
pub fn refuse_same_file(output: &Path, others: &[&Path]) -> std::io::Result<()> {
    let target = resolved(output);
    match others.iter().find(|other| resolved(other) == target) {
        Some(other) => Err(refused(format!(
            "{} is {}, which this command also reads or writes: name another file",
            output.display(),
            other.display()
        ))),
        None => Ok(()),
    }
}

/// Checks where `--junit` may write, before anything runs: not over one of the scenario files
/// (`inputs`), not over something that is not a regular file, and inside the output folder
/// `out` only as a file of its own at its top (`out/junit.xml`): everything else there — the
/// reports, the lock, each scenario's databases, manifest and store — is the run's.
pub fn check_junit_target(junit: &Path, out: &Path, inputs: &[&Path]) -> std::io::Result<()> {
    refuse_same_file(junit, inputs)?;
    if let Ok(existing) = std::fs::symlink_metadata(junit)
        && !existing.is_file()
    {
        return Err(refused(format!(
            "--junit {} exists and is not a regular file",
            junit.display()
        )));
    }
    let (target, root) = (resolved(junit), resolved(out));
    if target.starts_with(&root) {
        let top_level_xml = target.parent() == Some(root.as_path())
            && target
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        if !top_level_xml {
            return Err(refused(format!(
                "--junit {} is inside {}, whose files are the run's: name a file outside it, or an .xml file at its top (e.g. {}/junit.xml)",
                junit.display(),
                out.display(),
                out.display()
            )));
        }
    }
    Ok(())
}

fn refused(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::AlreadyExists, message)
}

/// This machine's name, as the kernel knows it; `unknown` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The median of `values` (not empty); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Now, in seconds since the Unix epoch, as the service's receipts state time.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Timings {
    pub stages: StageTimings,
    pub seeding: Vec<SiteSeeding>,
    pub probes: Vec<ProbeTiming>,
    pub uploads: Vec<UploadAttempt>,
    /// Time the service connection point spent waiting between attempts (backoff and
    /// `Retry-After`), in seconds: counted on the simulated clock in scenario runs, never slept.
    pub transport_wait_s: f64,
}

/// The retry policy a run used, as its report states it.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RetryPolicyReport {
    pub max_attempts: u32,
    pub first_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub timeout_ms: u64,
    pub max_retry_after_s: u64,
    /// `simulated` (waits advance the simulated clock) or `slept`.
    pub waits: &'static str,
}

impl From<&usage_protocol::client::RetryPolicy> for RetryPolicyReport {
    fn from(p: &usage_protocol::client::RetryPolicy) -> Self {
        Self {
            max_attempts: p.max_attempts,
            first_backoff_ms: p.first_backoff.as_millis() as u64,
            max_backoff_ms: p.max_backoff.as_millis() as u64,
            timeout_ms: p.timeout.as_millis() as u64,
            max_retry_after_s: p.max_retry_after.as_secs(),
            waits: match p.wait {
                usage_protocol::client::Wait::Simulate => "simulated",
                usage_protocol::client::Wait::Sleep => "slept",
            },
        }
    }
}

/// A budget of the scenario beside what was measured against it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BudgetReport {
    /// The `[budget]` key (`probes.TEL_X` or `probe_steps.TEL_X` for a probe's own).
    pub budget: String,
    pub limit: f64,
    /// The worst measured: the site run that came nearest the limit (or past it).
    pub worst: f64,
    pub site: String,
    pub week: u32,
    /// Site runs measured against it.
    pub measured: usize,
}

/// A check that applied to a scenario, and its own time.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckTime {
    pub check: Check,
    /// Milliseconds: measured around the check; `transport` is the submit stage's time (its
    /// findings are what the stage saw); `budgets` and `scale` are evaluated inline (0).
    pub ms: f64,
}

/// The checks that applied to a run: those the verify stage ran (`verified`, with their times),
/// `transport` (the submit stage, `submit_ms`), `budgets` when the scenario sets one, `scale`
/// when a site is beyond support.
pub fn applied_checks(
    verified: &std::collections::BTreeMap<Check, f64>,
    submit_ms: f64,
    budgeted: bool,
    findings: &[Finding],
) -> Vec<CheckTime> {
    let mut checks: Vec<CheckTime> = verified
        .iter()
        .map(|(check, ms)| CheckTime {
            check: *check,
            ms: *ms,
        })
        .collect();
    checks.push(CheckTime {
        check: Check::Transport,
        ms: submit_ms,
    });
    if budgeted {
        checks.push(CheckTime {
            check: Check::Budgets,
            ms: 0.0,
        });
    }
    if findings.iter().any(|f| f.code.check() == Check::Scale) {
        checks.push(CheckTime {
            check: Check::Scale,
            ms: 0.0,
        });
    }
    checks.sort_by_key(|c| c.check);
    checks
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub seed: u64,
    pub engine: String,
    pub out_dir: String,
    /// `pass` when the checker found nothing.
    pub outcome: Outcome,
    pub expected_outcome: Outcome,
    /// The finding codes the scenario expects.
    pub expected_findings: Vec<String>,
    /// True when the run met every expectation of the scenario's `[expect]`.
    pub met_expectations: bool,
    /// Why it did not, one line each.
    pub expectation_failures: Vec<String>,
    pub uploads_accepted: u32,
    pub probes_checked: u64,
    pub mismatches: u64,
    /// Probe runs of the user's own probes that have no expected rows (for that site): they
    /// ran, were timed (`timings.probes`), went upstream once and through the personal-data
    /// scan, but their rows were not compared.
    #[serde(default)]
    pub unchecked: u64,
    /// Those probes, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked_probes: Vec<String>,
    pub findings: Vec<Finding>,
    /// Set instead of the rest when the scenario could not run at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub retry_policy: RetryPolicyReport,
    /// The database engine the probes ran on (product, version, edition, collation): the
    /// probe timings below are of this engine. Embedded-engine timings do not predict SQL
    /// Server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_info: Option<crate::probes::EngineInfo>,
    /// The checks that applied, each with its own time (JUnit makes a test case of each).
    pub checks: Vec<CheckTime>,
    /// Each budget of the scenario beside the worst measured against it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetReport>,
    /// The process's peak resident memory during the scenario, in MiB (Linux: the peak is reset
    /// at the scenario's start; where the kernel refuses, the process's peak so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    pub timings: Timings,
}

impl ScenarioReport {
    /// Applies the scenario's severities, sets the outcome and compares the run with `[expect]`.
    ///
    /// A listed finding code is required. The outcome is `pass` when no *unlisted error* was
    /// found: an unlisted info never fails a run, and a listed error is what the scenario
    /// reproduces. `max_attempts` bounds every single upload.
    pub fn evaluate(mut self, expect: &Expect) -> Self {
        for finding in &mut self.findings {
            if let Some(severity) = expect.severity.get(finding.code.as_str()) {
                finding.severity = *severity;
            }
        }
        let wanted: std::collections::BTreeSet<&str> = expect
            .findings
            .iter()
            .map(String::as_str)
            .filter(|c| FindingCode::parse(c).is_none_or(FindingCode::excusable))
            .collect();
        let unlisted_errors: std::collections::BTreeSet<&str> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !wanted.contains(f.code.as_str()))
            .map(|f| f.code.as_str())
            .collect();
        self.outcome = if unlisted_errors.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        self.expected_outcome = expect.outcome;
        self.expected_findings = expect.findings.clone();
        // A check whose finding the scenario lists applies, whether or not it ran: a listed
        // finding it could never report fails it (JUnit shows it as that check's failure).
        for check in Check::ALL {
            let listed = check
                .codes()
                .any(|code| expect.findings.iter().any(|e| e == code.as_str()));
            if listed && !self.checks.iter().any(|t| t.check == *check) {
                self.checks.push(CheckTime {
                    check: *check,
                    ms: 0.0,
                });
            }
        }
        let mut failures = Vec::new();
        if self.outcome != expect.outcome {
            failures.push(format!(
                "outcome is {}, the scenario expects {}",
                self.outcome.as_str(),
                expect.outcome.as_str()
            ));
        }
        if let Some(uploads) = expect.uploads
            && uploads != self.uploads_accepted
        {
            failures.push(format!(
                "upload_count: the upstream accepted {} upload(s), the scenario expects {uploads}",
                self.uploads_accepted
            ));
        }
        if let Some(max) = expect.max_attempts {
            for upload in self.timings.uploads.iter().filter(|u| u.attempts > max) {
                failures.push(format!(
                    "the week {} upload took {} attempts; the scenario allows {max}",
                    upload.week, upload.attempts
                ));
            }
        }
        let found: std::collections::BTreeSet<&str> =
            self.findings.iter().map(|f| f.code.as_str()).collect();
        for missing in wanted.difference(&found) {
            failures.push(format!("{EXPECTED_FINDING} `{missing}` was not reported"));
        }
        // A scenario that expects the run to fail accepts the errors that make it fail.
        if expect.outcome == Outcome::Pass {
            for extra in unlisted_errors {
                failures.push(format!("{UNEXPECTED_FINDING} `{extra}`"));
            }
        }
        self.met_expectations = failures.is_empty();
        self.expectation_failures = failures;
        self
    }

    /// This scenario's lines of the summary: its verdict, stages, findings and unmet
    /// expectations — printed as soon as it finishes.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let s = self;
        let mut out = String::new();
        let verdict = if s.met_expectations { "ok  " } else { "FAIL" };
        if let Some(error) = &s.error {
            let _ = writeln!(out, "{verdict} {:<28} did not run: {error}", s.name);
            return out;
        }
        let _ = writeln!(
            out,
            "{verdict} {:<28} outcome={}{} uploads={} retries={} probes_checked={} mismatches={} findings={} seed={} engine={} {:.1}s",
            s.name,
            s.outcome.as_str(),
            if s.outcome == s.expected_outcome && s.outcome == Outcome::Fail {
                " (expected)"
            } else {
                ""
            },
            s.uploads_accepted,
            s.timings
                .uploads
                .iter()
                .map(|u| u.attempts.saturating_sub(1))
                .sum::<u32>(),
            s.probes_checked,
            s.mismatches,
            s.findings.len(),
            s.seed,
            s.engine,
            s.timings.stages.total_ms / 1e3,
        );
        if s.error.is_none() {
            let st = &s.timings.stages;
            let _ = writeln!(
                out,
                "     stages: seed {:.0} ms, collect {:.0} ms, replicate {:.0} ms, submit {:.0} ms, check {:.0} ms",
                st.seed_ms, st.collect_ms, st.replicate_ms, st.submit_ms, st.check_ms
            );
            for b in &s.budgets {
                let _ = writeln!(
                    out,
                    "     budget {}: worst {:.1} of {} ({} week {}, {} site run(s))",
                    b.budget, b.worst, b.limit, b.site, b.week, b.measured
                );
            }
            if s.unchecked > 0 {
                let _ = writeln!(
                    out,
                    "     unchecked: {} probe run(s) of {} (no expected rows; times and row counts in report.json)",
                    s.unchecked,
                    s.unchecked_probes.join(", ")
                );
            }
            if s.timings.transport_wait_s > 0.0 {
                let how = match s.retry_policy.waits {
                    "" => String::new(),
                    waits => format!(" ({waits})"),
                };
                let _ = writeln!(
                    out,
                    "     transport: waited {} between attempts{how}",
                    human_duration(s.timings.transport_wait_s),
                );
            }
        }
        for f in s.findings.iter().take(10) {
            let severity = match f.severity {
                Severity::Error => "finding",
                Severity::Info => "info",
            };
            let _ = writeln!(
                out,
                "     {severity} {}: {}",
                f.code,
                crate::scenario::printable(&f.message)
            );
        }
        if s.findings.len() > 10 {
            let _ = writeln!(
                out,
                "     … and {} more findings (see report.json)",
                s.findings.len() - 10
            );
        }
        for failure in &s.expectation_failures {
            let _ = writeln!(out, "     not met: {failure}");
        }
        out
    }

    /// A report for a scenario that could not run.
    pub fn errored(name: &str, file: &str, error: String) -> Self {
        Self {
            name: name.into(),
            file: file.into(),
            outcome: Outcome::Fail,
            expectation_failures: vec![error.clone()],
            error: Some(error),
            ..Self::default()
        }
    }
}

/// How an expectation failure about a finding begins: JUnit reports those in the finding's
/// check, the rest in `expectations`.
const EXPECTED_FINDING: &str = "expected finding";
const UNEXPECTED_FINDING: &str = "unexpected finding";

/// `3725.0` → `1h 2m 5s`.
fn human_duration(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{seconds:.1}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// `report.json`. Its JSON Schema, generated from these types, is `docs/report.schema.json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunReport {
    pub harness_version: &'static str,
    /// The commit the harness was built from (`unknown` outside a git checkout).
    pub git_commit: &'static str,
    /// When the report was made, RFC 3339, UTC.
    pub created_at: String,
    /// The machine it ran on.
    pub host: String,
    pub scenarios: Vec<ScenarioReport>,
    pub met: usize,
    pub not_met: usize,
}

impl RunReport {
    pub fn new(scenarios: Vec<ScenarioReport>) -> Self {
        let met = scenarios.iter().filter(|s| s.met_expectations).count();
        Self {
            harness_version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("HARNESS_GIT_COMMIT"),
            created_at: chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            host: host_name(),
            not_met: scenarios.len() - met,
            met,
            scenarios,
        }
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("reports serialise");
        write_readable(path, &json)
    }

    /// Writes [`RunReport::html`] to `path`.
    pub fn write_html(&self, path: &Path) -> std::io::Result<()> {
        write_readable(path, self.html().as_bytes())
    }

    /// The human summary: a block per scenario ([`ScenarioReport::summary`]), then the totals.
    pub fn summary(&self) -> String {
        let mut out: String = self.scenarios.iter().map(ScenarioReport::summary).collect();
        out.push_str(&self.totals());
        out
    }

    /// The last line of the summary: how many scenarios met their expectations.
    pub fn totals(&self) -> String {
        format!(
            "{} scenario(s): {} met expectations, {} did not\n",
            self.scenarios.len(),
            self.met,
            self.not_met
        )
    }

    /// JUnit XML: a suite per scenario; a test case for its expectations (outcome, upload
    /// count, attempts) and one per check that applied, with the check's own time. A check fails
    /// when it reported an error the scenario does not list (a scenario that expects to fail
    /// accepts those), or missed a finding it lists: the
    /// failure's type is the finding code, its text every message. A scenario that could not
    /// run is one test case in error, nothing else.
    pub fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let seconds = |ms: f64| std::time::Duration::from_secs_f64(ms.max(0.0) / 1e3);
        let mut report = Report::new("harness");
        for s in &self.scenarios {
            let mut suite = TestSuite::new(s.name.clone());
            suite.set_time(seconds(s.timings.stages.total_ms));
            let mut add = |name: &str, ms: f64, status: TestCaseStatus| {
                let mut tc = TestCase::new(name.to_string(), status);
                tc.set_classname(format!("harness.{}", s.name));
                tc.set_time(seconds(ms));
                suite.add_test_case(tc);
            };
            if let Some(error) = &s.error {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("not_run");
                status.set_message(first_line(error));
                status.set_description(error.clone());
                add("run", s.timings.stages.total_ms, status);
                report.add_test_suite(suite);
                continue;
            }
            let general: Vec<&str> = s
                .expectation_failures
                .iter()
                .map(String::as_str)
                .filter(|f| !f.starts_with(EXPECTED_FINDING) && !f.starts_with(UNEXPECTED_FINDING))
                .collect();
            add(
                "expectations",
                0.0,
                failure("expectations", &general.join("\n")),
            );
            for check in &s.checks {
                let mut failing: Vec<String> = Vec::new();
                let mut kind = None;
                for code in check.check.codes() {
                    let expected = s.expected_findings.iter().any(|e| e == code.as_str());
                    let errors: Vec<&Finding> = s
                        .findings
                        .iter()
                        .filter(|f| f.code == code && f.severity == Severity::Error)
                        .collect();
                    let reported = s.findings.iter().any(|f| f.code == code);
                    if expected && !reported {
                        kind.get_or_insert(code);
                        failing.push(format!("expected finding `{code}` was not reported"));
                    } else if !expected && !errors.is_empty() && s.expected_outcome == Outcome::Pass
                    {
                        kind.get_or_insert(code);
                        failing.extend(errors.iter().map(|f| format!("{code}: {}", f.message)));
                    }
                }
                let status = match kind {
                    None => TestCaseStatus::success(),
                    Some(code) => failure(code.as_str(), &failing.join("\n")),
                };
                add(&format!("check {}", check.check.as_str()), check.ms, status);
            }
            report.add_test_suite(suite);
        }
        without_root_skipped(report.to_string().unwrap_or_default())
    }
}

/// quick-junit writes `skipped` on `<testsuites>`, which the JUnit schema Jenkins' xUnit plugin
/// validates with (junit-10.xsd) does not allow there. No case is ever skipped here, so the
/// root's count is always 0 and says nothing the suites do not.
fn without_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    match xml[start..end].find(" skipped=\"0\"") {
        Some(at) => {
            let at = start + at;
            format!("{}{}", &xml[..at], &xml[at + " skipped=\"0\"".len()..])
        }
        None => xml,
    }
}

/// A failed test case of `kind` whose text is `body` (its first line the message); a success
/// when `body` is empty.
fn failure(kind: &str, body: &str) -> quick_junit::TestCaseStatus {
    use quick_junit::{NonSuccessKind, TestCaseStatus};
    if body.is_empty() {
        return TestCaseStatus::success();
    }
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_type(kind.to_string());
    status.set_message(first_line(body));
    status.set_description(body.to_string());
    status
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
