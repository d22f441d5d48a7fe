//! The simulated pipeline of one scenario, as a list of stages: [`seed`] every site, then each
//! weekly cycle [`collect`] at every site, [`replicate`] primaries to the CAS and [`submit`]
//! from the top-level site; finally [`verify`] what the upstream received.
//!
//! Each stage is a module whose public functions take explicit inputs and return explicit
//! outputs (timings and findings included); [`run_scenario`] only wires them together. The
//! stages work per site and per run so that a day clock (sites installed on different days)
//! can call them as the days come. Before verifying, a run keeps its record ([`manifest`]), from
//! which `harness check` ([`crate::check`]) verifies it again.

pub mod collect;
pub mod faults;
pub mod replicate;
pub mod seed;
pub mod submit;
pub mod verify;

use std::path::PathBuf;
use std::time::Instant;

use usage_protocol::client::{RetryPolicy, Upstream, UpstreamError};

use crate::engine::EngineError;
use crate::finding::{Finding, FindingCode};
use crate::layout::{RunLayout, ScenarioLayout};
use crate::manifest::{self, Manifest, RecordedOptions};
use crate::mock;
use crate::probes::Catalog;
use crate::report::{ScenarioReport, StageTimings, Timings};
use crate::scenario::{EngineKind, FaultKind, Scenario, ScpMode};

/// How to run scenarios, from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Each scenario writes into `out/<scenario name>/`.
    pub out: PathBuf,
    /// Overrides the scenario's engine.
    pub engine: Option<EngineKind>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    pub retry: RetryPolicy,
    /// Show progress bars (on a terminal).
    pub progress: bool,
    /// `--probes`: the user's probes, in place of each scenario's `[run] probes_dir`.
    pub probes: Option<PathBuf>,
    /// `--repeat N`: each weekly collection made N times, its timings the medians.
    pub repeat: u32,
}

impl RunOptions {
    /// A run into `out` with the scenario's own engine, seed and probes, no progress bars, and
    /// transport waits simulated (backoff from 10 ms): what a run inside another command (a
    /// swarm's seed, a fleet's base run) and the tests use.
    pub fn simulated(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            engine: None,
            seed: None,
            retry: RetryPolicy {
                first_backoff: std::time::Duration::from_millis(10),
                wait: usage_protocol::client::Wait::Simulate,
                ..RetryPolicy::default()
            },
            progress: false,
            probes: None,
            repeat: 1,
        }
    }

    /// The options a kept run records in its manifest.
    pub fn recorded(&self) -> RecordedOptions {
        RecordedOptions {
            seed_override: self.seed,
            engine_override: self.engine.map(|e| e.as_str().to_string()),
            upload_timeout_ms: self.retry.timeout.as_millis() as u64,
        }
    }
}

/// Why a scenario could not be run at all (as opposed to: it ran and its checks failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeFileError),
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("starting the mock upstream: {0}")]
    Start(#[from] mock::ServerError),
    #[error("mock upstream: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("building the week {week} payload: {source}")]
    Payload {
        week: u32,
        source: crate::payload::PayloadBuildError,
    },
    #[error("service connection tool, week {week}: {source}")]
    Sct {
        week: u32,
        source: crate::sct::SctError,
    },
}

/// What the weekly stages told, besides their timings.
#[derive(Debug, Default)]
struct Staged {
    /// Findings of collect and submit, reported before verification.
    findings: Vec<Finding>,
    /// Hashed IDs of the hierarchies an offline `-connect` carried.
    connected: Vec<String>,
}

/// The probe catalog `scenario` runs with (its own probes, or `probes` over them), checked
/// against it: the probes' SQL, the sites their expected rows name, and the probes its budgets
/// name. `scenario check`, `run` before any scenario starts, and each run call this one check.
pub fn checked_catalog(
    scenario: &Scenario,
    probes: Option<&std::path::Path>,
) -> Result<&'static Catalog, RunError> {
    let catalog = Catalog::of_scenario(scenario, probes)?;
    crate::engine::sqlite::check_loaded_probes(catalog)?;
    catalog.check_expected_sites(&site_codes(scenario))?;
    scenario.check_budget_probes(|name| catalog.exactly(name).map(|p| p.level))?;
    Ok(catalog)
}

/// Runs one scenario end to end and returns its report (with the checker's verdict). Before
/// verification it keeps the run's record (`manifest.json`, `attempts.jsonl`) beside its output,
/// so that `harness check` can verify it again.
pub async fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
) -> Result<ScenarioReport, RunError> {
    let started = Instant::now();
    reset_peak_rss();
    let catalog = checked_catalog(scenario, options.probes.as_deref())?;
    let mut scenario = scenario.clone();
    scenario.seed = options.seed.unwrap_or(scenario.seed);
    let layout = RunLayout::new(&options.out).scenario(&scenario.name);
    layout.clear_previous_run()?;
    let server = mock::start(&layout.upstream(), true).await?;
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        options.retry.clone(),
    );
    let progress = if options.progress {
        indicatif::MultiProgress::new()
    } else {
        seed::hidden_progress()
    };
    let mut stages = StageTimings::default();
    let mut timings = Timings::default();
    // What the run is doing now, under the seeding bars: the scenario and its stage.
    let stage = progress.add(
        indicatif::ProgressBar::new_spinner().with_finish(indicatif::ProgressFinish::AndClear),
    );
    stage.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
            .expect("valid template"),
    );
    stage.set_prefix(scenario.name.clone());
    stage.set_message("seeding");
    stage.enable_steady_tick(std::time::Duration::from_millis(120));

    let t = Instant::now();
    let engine = options.engine.unwrap_or(scenario.run.engine);
    tracing::info!(
        scenario = %scenario.name,
        engine = engine.as_str(),
        seed = scenario.seed,
        "seeding the site databases"
    );
    let seeded =
        seed::seed_scenario(&scenario, catalog, engine, &layout, &upstream, &progress).await?;
    timings.seeding = seeded
        .hierarchies
        .iter()
        .flat_map(|h| h.sites.iter().map(|s| s.seeding.clone()))
        .collect();
    stages.seed_ms = ms(t);
    tracing::info!(scenario = %scenario.name, ms = stages.seed_ms, "seeded");

    let mut staged = Staged::default();
    staged.findings.extend(beyond_support(&scenario));
    let mut per_1k_clients = Vec::new();
    let mut probe_per_1k_clients = Vec::new();
    let mut week_record = WeekRecord {
        stages: &mut stages,
        timings: &mut timings,
        findings: &mut staged.findings,
        connected: &mut staged.connected,
        per_1k_clients: &mut per_1k_clients,
        probe_per_1k_clients: &mut probe_per_1k_clients,
        stage: &stage,
    };
    for week in 1..=scenario.weeks() {
        run_week(
            &scenario,
            &seeded,
            week,
            &layout,
            &upstream,
            options.repeat,
            &mut week_record,
        )
        .await?;
    }
    let mut manifest = Manifest::new(
        &scenario,
        seeded.engine,
        &seeded.engine_info,
        options.recorded(),
    );
    manifest.scenario.probes_dir = catalog.loaded_from().map(|d| d.display().to_string());
    manifest.scenario.probes_digest = catalog.digest().map(str::to_string);
    manifest.stage_findings = staged.findings.clone();
    manifest.connected = staged.connected.clone();
    manifest::write(&layout, &manifest, &timings.uploads)?;

    let t = Instant::now();
    tracing::info!(scenario = %scenario.name, "checking what the upstream received");
    stage.set_message("checking what the upstream received");
    let verified = verify(&scenario, &seeded, &upstream, &staged, &timings).await?;
    let mut findings = staged.findings;
    findings.extend(verified.findings);
    stages.check_ms = ms(t);
    server.stop().await;
    let (engine, engine_info) = seeded.close().await;
    stage.finish_and_clear();

    timings.stages = stages.with_total(ms(started));
    timings.transport_wait_s = timings.uploads.iter().map(|u| u.waited_s).sum();
    let checks = crate::report::applied_checks(
        &verified.check_ms,
        timings.stages.submit_ms,
        scenario.budget.is_set(),
        &findings,
    );
    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed,
        engine: engine.to_string(),
        out_dir: layout.dir().display().to_string(),
        uploads_accepted: verified.uploads_accepted,
        probes_checked: verified.probes_checked,
        unchecked: verified.unchecked,
        unchecked_probes: verified.unchecked_probes.into_iter().collect(),
        mismatches: verified.mismatches,
        findings,
        retry_policy: (&options.retry).into(),
        engine_info: Some(engine_info),
        checks,
        budgets: scenario
            .budget
            .collect_ms_per_1k_clients
            .and_then(|limit| budget_report("collect_ms_per_1k_clients", limit, &per_1k_clients))
            .into_iter()
            .chain(
                scenario
                    .budget
                    .per_probe()
                    .filter_map(|(table, probe, limit)| {
                        let key = format!("{table}.{probe}");
                        let measured: Vec<(String, u32, f64)> = probe_per_1k_clients
                            .iter()
                            .filter(|(k, ..)| *k == key)
                            .map(|(_, site, week, v)| (site.clone(), *week, *v))
                            .collect();
                        budget_report(&key, limit, &measured)
                    }),
            )
            .collect(),
        peak_rss_mib: peak_rss_mib(),
        timings,
        ..ScenarioReport::default()
    }
    .evaluate(&scenario.expect))
}

/// The verify stage over what the upstream stored and what the stages told.
async fn verify(
    scenario: &Scenario,
    seeded: &seed::Seeded,
    upstream: &Upstream,
    staged: &Staged,
    timings: &Timings,
) -> Result<verify::CheckSummary, RunError> {
    let offline = scenario.hierarchy.scp_mode == ScpMode::Offline;
    let why =
        verify::Explanations::of_run(scenario, &staged.findings).with_uploads(&timings.uploads);
    let received = verify::received_from(upstream).await?;
    let mut inputs = Vec::new();
    for hierarchy in &seeded.hierarchies {
        inputs.push(hierarchy.verify_input(offline).await?);
    }
    Ok(verify::verify_run(
        received,
        &inputs,
        &seeded.engine_info,
        &why,
        &staged.connected,
    ))
}

/// A budget beside the worst of what was measured against it; None when nothing was.
fn budget_report(
    budget: &str,
    limit: f64,
    measured: &[(String, u32, f64)],
) -> Option<crate::report::BudgetReport> {
    let (site, week, worst) = measured.iter().max_by(|a, b| a.2.total_cmp(&b.2))?;
    Some(crate::report::BudgetReport {
        budget: budget.to_string(),
        limit,
        worst: *worst,
        site: site.clone(),
        week: *week,
        measured: measured.len(),
    })
}

/// Starts a new peak of the process's resident memory (Linux: `clear_refs`); false where the
/// kernel does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident memory since the last reset, in MiB (Linux's `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// One `beyond_supported_scale` finding per site whose counts are above what is supported.
fn beyond_support(scenario: &Scenario) -> Vec<Finding> {
    std::iter::once(&scenario.hierarchy)
        .chain(&scenario.neighbors)
        .flat_map(|h| &h.primary)
        .filter_map(|p| {
            let beyond = crate::scenario::beyond_support(p);
            (!beyond.is_empty()).then(|| {
                Finding::new(
                    FindingCode::BeyondSupportedScale,
                    format!("beyond support: {}", beyond.join(", ")),
                )
                .site(&p.code.get_ref().to_ascii_uppercase())
            })
        })
        .collect()
}

/// Where a week's stages leave their timings and findings.
struct WeekRecord<'a> {
    stages: &'a mut StageTimings,
    timings: &'a mut Timings,
    findings: &'a mut Vec<Finding>,
    connected: &'a mut Vec<String>,
    /// Each site run's collection time per 1,000 clients, for the budget's report.
    per_1k_clients: &'a mut Vec<(String, u32, f64)>,
    /// The same of each probe with a budget of its own: (probe, site, week, ms per 1,000).
    probe_per_1k_clients: &'a mut Vec<(String, String, u32, f64)>,
    /// The progress line that says which stage is running.
    stage: &'a indicatif::ProgressBar,
}

/// One weekly cycle: the week's upstream faults, then collect, replicate and submit, then the
/// level changes that take effect from the next week.
async fn run_week(
    scenario: &Scenario,
    seeded: &seed::Seeded,
    week: u32,
    layout: &ScenarioLayout,
    upstream: &Upstream,
    repeat: u32,
    record: &mut WeekRecord<'_>,
) -> Result<(), RunError> {
    let hierarchies = &seeded.hierarchies;
    for fault in faults::upstream_programs(scenario, week) {
        upstream.add_fault(&fault).await?;
    }

    let t = Instant::now();
    tracing::info!(scenario = %scenario.name, week, "collect: the weekly queries at each site");
    record.stage.set_message(format!("week {week}: collect"));
    let collection = collect::Collection {
        budget: Some(&scenario.budget),
        repeat,
    };
    let db_down = faults::sites_struck(scenario, week, FaultKind::SiteDbDown);
    let collected = collect::collect_week(hierarchies, week, &collection, &db_down).await?;
    let probe_runs = collected.timings.len();
    record.timings.probes.extend(collected.timings);
    record.per_1k_clients.extend(collected.per_1k_clients);
    record
        .probe_per_1k_clients
        .extend(collected.probe_per_1k_clients);
    record.findings.extend(collected.findings);
    record.stages.collect_ms += ms(t);

    tracing::info!(
        scenario = %scenario.name,
        week,
        probe_runs,
        "collected"
    );
    let t = Instant::now();
    tracing::info!(scenario = %scenario.name, week, "replicate: primaries to the CAS");
    record.stage.set_message(format!("week {week}: replicate"));
    let pass = replicate::PassFaults {
        down: faults::replication_down(scenario, week),
        db_down: db_down.clone(),
        duplicated: faults::sites_struck(scenario, week, FaultKind::ReplicationDuplicate),
        crashed: faults::replication_crashes(scenario, week),
    };
    replicate::replicate_week(hierarchies, &pass).await?;
    record.stages.replicate_ms += ms(t);

    let t = Instant::now();
    tracing::info!(scenario = %scenario.name, week, "submit: the service connection point's check");
    record.stage.set_message(format!("week {week}: submit"));
    let top_down = db_down.contains(&hierarchies[0].top().model.code);
    let submitted = if top_down || faults::strikes(scenario, week, FaultKind::ScpDown) {
        submit::Submitted::default() // nothing leaves this week; the backlog waits
    } else {
        submit::submit_week(
            scenario,
            hierarchies,
            week,
            &layout.transfer(week),
            upstream,
        )
        .await?
    };
    for upload in &submitted.uploads {
        tracing::info!(
            scenario = %scenario.name,
            week,
            attempts = upload.attempts,
            receipt = upload.receipt.as_deref().unwrap_or("-"),
            error = upload.error.as_deref().unwrap_or("-"),
            "submitted"
        );
    }
    record.timings.uploads.extend(submitted.uploads);
    record.findings.extend(submitted.findings);
    record.connected.extend(submitted.connected);
    collect::apply_level_changes(hierarchies, week).await?;
    // A fault scheduled for this week must not bleed into the next.
    upstream.clear_faults().await?;
    record.stages.submit_ms += ms(t);
    Ok(())
}

/// Every site code of a scenario's hierarchies.
pub fn site_codes(scenario: &Scenario) -> Vec<String> {
    crate::model::HierarchyModel::all_of(scenario)
        .iter()
        .flat_map(|h| h.sites.iter().map(|s| s.code.clone()))
        .collect()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
