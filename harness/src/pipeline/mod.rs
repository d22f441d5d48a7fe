//! The simulated pipeline of one scenario: seed every site, then for each weekly tick collect on
//! every site, replicate primaries to the CAS and submit from the top-level site to the upstream;
//! finally check what the upstream received.

mod replicate;
pub mod submit;
pub mod upstream;

pub use replicate::replicate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use mock_upstream::faults::Fault;

use crate::check::{self, Finding, ReceivedUpload};
use crate::engine::sqlite::SqliteEngine;
use crate::engine::{Engine, EngineError, SiteDatabase, WeeklyRun};
use crate::generate;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts, SiteModel};
use crate::probes;
use crate::report::{
    ProbeTiming, ScenarioReport, SiteSeeding, StageTimings, Timings, UploadAttempt,
};
use crate::scenario::{EngineKind, FaultKind, Level, Scenario};
use upstream::{RetryPolicy, Upstream};

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
}

/// Why a scenario could not be run at all (as opposed to: it ran and its checks failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("engine `{0}` is not available in this build: {1}")]
    EngineNotBuilt(&'static str, &'static str),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mock upstream: {0}")]
    Upstream(String),
    #[error("building the week {week} payload: {source}")]
    Payload {
        week: u32,
        source: submit::PayloadBuildError,
    },
}

impl RunError {
    /// True when the failure is the environment's (an engine that cannot be reached), which
    /// DESIGN §5 maps to exit code 2 like an invalid scenario.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            RunError::Engine(EngineError::Unavailable(_)) | RunError::EngineNotBuilt(..)
        )
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_path_buf();
    move |source| RunError::Io {
        action,
        path,
        source,
    }
}

/// Picks the engine a scenario runs on.
pub fn engine_for(kind: EngineKind, sites_dir: &Path) -> Result<Box<dyn Engine>, RunError> {
    match kind {
        EngineKind::Embedded => Ok(Box::new(SqliteEngine::new(sites_dir))),
        EngineKind::Docker => Err(RunError::EngineNotBuilt(
            "docker",
            "the SQL Server engine is not part of this version yet; use --engine embedded",
        )),
        EngineKind::External => Err(RunError::EngineNotBuilt(
            "external",
            "the SQL Server engine is not part of this version yet; use --engine embedded",
        )),
    }
}

/// A seeded site: its database and the oracle's facts about it.
pub struct SeededSite {
    pub model: SiteModel,
    pub db: Arc<dyn SiteDatabase>,
    pub facts: SiteFacts,
    pub seeding: SiteSeeding,
}

/// Creates a site's database and streams its generated rows into it.
pub async fn seed_site(
    engine: &dyn Engine,
    hierarchy: &HierarchyModel,
    site: &SiteModel,
    progress: &indicatif::ProgressBar,
) -> Result<SeededSite, RunError> {
    let start = Instant::now();
    let db = engine.open_site(site).await?;
    db.install(hierarchy, site).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let model = site.clone();
    let bar = progress.clone();
    let generator = tokio::task::spawn_blocking(move || {
        generate::stream_site(&model, |batch| {
            bar.inc(batch.rows());
            tx.blocking_send(batch)
        })
    });
    let loaded = db.load(rx).await;
    let facts = generator
        .await
        .map_err(|e| EngineError::site(&site.code, "generate", e))?;
    let rows = loaded?;
    // The generator only fails when the loader hung up, and then `loaded` said why.
    let facts = facts.map_err(|e| EngineError::site(&site.code, "generate", e))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(SeededSite {
        model: site.clone(),
        db,
        facts,
        seeding: SiteSeeding {
            site: site.code.clone(),
            clients: site.clients,
            rows,
            ms,
            rows_per_s: rows as f64 / (ms / 1e3).max(1e-9),
        },
    })
}

/// Estimated rows of a site, for progress bars.
pub fn estimated_rows(site: &SiteModel) -> u64 {
    u64::from(site.clients) * (1 + u64::from(site.updates_per_client))
        + u64::from(site.apps) * 3
        + u64::from(site.collections)
        + u64::from(site.updates)
        + u64::from(site.custom_tables) * 5
}

fn upstream_fault(kind: FaultKind, f: &crate::scenario::FaultSpec) -> Option<Fault> {
    let count = f.count();
    Some(match kind {
        FaultKind::UpstreamStatus => Fault::Status {
            status: *f.status.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamLatency => Fault::Latency {
            ms: *f.ms.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamThrottle => Fault::Throttle {
            retry_after_s: *f.retry_after_s.as_ref()?.get_ref(),
            count,
        },
        FaultKind::UpstreamReset => Fault::Reset { count },
        FaultKind::ReplicationDown | FaultKind::LevelChange => return None,
    })
}

/// Runs one scenario end to end and returns its report (with the checker's verdict).
pub async fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
) -> Result<ScenarioReport, RunError> {
    let started = Instant::now();
    let mut scenario = scenario.clone();
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    let engine_kind = options.engine.unwrap_or(scenario.run.engine);
    let out = options.out.join(safe_name(&scenario.name));
    let sites_dir = out.join("sites");
    let upstream_dir = out.join("upstream");
    let payload_dir = out.join("payloads");
    for dir in [&upstream_dir, &payload_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err("clear", dir))?;
        }
    }
    for dir in [&sites_dir, &upstream_dir, &payload_dir] {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    let engine = engine_for(engine_kind, &sites_dir)?;
    let hierarchy = HierarchyModel::from_scenario(&scenario);
    let hierarchy_hash = tel_hash(&hierarchy.id.to_string());

    let server = mock_upstream::start(mock_upstream::Config::new(&upstream_dir))
        .await
        .map_err(|e| RunError::Upstream(e.to_string()))?;
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        options.retry.clone(),
    );
    let token = upstream
        .register(&hierarchy_hash)
        .await
        .map_err(|e| RunError::Upstream(e.to_string()))?;

    let mut stages = StageTimings::default();
    let mut findings: Vec<Finding> = Vec::new();

    // Seed.
    let t = Instant::now();
    let bars = indicatif::MultiProgress::new();
    if !options.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut sites = Vec::new();
    for site in &hierarchy.sites {
        let bar = bars.add(indicatif::ProgressBar::new(estimated_rows(site)));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>5} seeding {bar:30} {human_pos}/{human_len} rows {per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(site.code.clone());
        sites.push(seed_site(engine.as_ref(), &hierarchy, site, &bar).await?);
        bar.finish_and_clear();
    }
    stages.seed_ms = ms(t);

    // Weekly cycles.
    let weeks = scenario.weeks();
    let levels: Vec<Level> = scenario.levels();
    let mut probe_timings = Vec::new();
    let mut uploads = Vec::new();
    for week in 1..=weeks {
        let level = levels[week as usize - 1];
        let started_on = hierarchy.week_start(week);
        for kind in [
            FaultKind::UpstreamStatus,
            FaultKind::UpstreamLatency,
            FaultKind::UpstreamThrottle,
            FaultKind::UpstreamReset,
        ] {
            for f in scenario.faults_at(week, kind) {
                if let Some(fault) = upstream_fault(kind, f) {
                    upstream
                        .add_fault(&fault)
                        .await
                        .map_err(|e| RunError::Upstream(e.to_string()))?;
                }
            }
        }

        let t = Instant::now();
        let catalog = probes::for_level(level);
        for site in &sites {
            let outcome = site
                .db
                .run_weekly(&WeeklyRun {
                    week,
                    started_on,
                    probes: &catalog,
                })
                .await?;
            for p in outcome.probes {
                if let Some(error) = &p.error {
                    findings.push(
                        Finding::new("probe_error", format!("{} failed: {error}", p.probe))
                            .week(week)
                            .site(&site.model.code)
                            .probe(p.probe),
                    );
                }
                probe_timings.push(ProbeTiming {
                    week,
                    site: site.model.code.clone(),
                    probe: p.probe.to_string(),
                    rows: p.rows,
                    ms: p.elapsed.as_secs_f64() * 1e3,
                });
            }
            if let Some(budget) = scenario.budget.collect_ms_per_1k_clients
                && site.model.clients > 0
            {
                let per_1k =
                    outcome.elapsed.as_secs_f64() * 1e3 / (f64::from(site.model.clients) / 1000.0);
                if per_1k > budget {
                    findings.push(
                        Finding::new(
                            "budget_exceeded",
                            format!("collection took {per_1k:.1} ms per 1,000 clients; the budget is {budget}"),
                        )
                        .week(week)
                        .site(&site.model.code),
                    );
                }
            }
        }
        stages.collect_ms += ms(t);

        let t = Instant::now();
        if hierarchy.has_cas() {
            let down: Vec<String> = scenario
                .faults_at(week, FaultKind::ReplicationDown)
                .filter_map(|f| f.site.as_ref().map(|s| s.get_ref().to_ascii_uppercase()))
                .collect();
            let (cas, primaries) = sites.split_first().expect("a CAS and its primaries");
            for primary in primaries.iter().filter(|p| !down.contains(&p.model.code)) {
                replicate(cas.db.as_ref(), primary.db.as_ref()).await?;
            }
        }
        stages.replicate_ms += ms(t);

        let t = Instant::now();
        let rows = sites[0].db.results_of_week(week).await?;
        let payload = submit::build_payload(&hierarchy, level, week, &rows)
            .map_err(|source| RunError::Payload { week, source })?;
        let (json, gzip) = submit::encode(&payload);
        let path = payload_dir.join(format!("week-{week:03}.json"));
        std::fs::write(&path, &json).map_err(io_err("write", &path))?;
        let key = submit::idempotency_key(&hierarchy_hash, week);
        let upload_start = Instant::now();
        match upstream.upload_usage(&token, &key, gzip).await {
            Ok(receipt) => uploads.push(UploadAttempt {
                week,
                attempts: receipt.attempts,
                ms: ms(upload_start),
                receipt: Some(receipt.receipt.id),
                error: None,
            }),
            Err(e) => {
                findings
                    .push(Finding::new("upload_failed", format!("week {week}: {e}")).week(week));
                uploads.push(UploadAttempt {
                    week,
                    attempts: 0,
                    ms: ms(upload_start),
                    receipt: None,
                    error: Some(e.to_string()),
                });
            }
        }
        // A level changed during this week is what the sites run with from the next one.
        if let Some(next) = levels.get(week as usize)
            && *next != level
        {
            for site in &sites {
                site.db.set_level(*next).await?;
            }
        }
        // A fault scheduled for this week must not bleed into the next.
        upstream
            .clear_faults()
            .await
            .map_err(|e| RunError::Upstream(e.to_string()))?;
        stages.submit_ms += ms(t);
    }

    // Check.
    let t = Instant::now();
    let facts: BTreeMap<String, SiteFacts> = sites
        .iter()
        .map(|s| (s.model.code.clone(), s.facts.clone()))
        .collect();
    let expected = check::expected_weeks(&hierarchy, &facts, &levels, &engine.info());
    let mut received = Vec::new();
    for receipt in upstream
        .receipts()
        .await
        .map_err(|e| RunError::Upstream(e.to_string()))?
    {
        let json = upstream
            .upload_body(&receipt.id)
            .await
            .map_err(|e| RunError::Upstream(e.to_string()))?;
        received.push(ReceivedUpload {
            receipt_id: receipt.id,
            json,
        });
    }
    let mut summary = check::check_uploads(&hierarchy, &expected, &received);
    stages.check_ms = ms(t);
    server.stop().await;

    findings.append(&mut summary.findings);
    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed,
        engine: engine.name().to_string(),
        out_dir: out.display().to_string(),
        uploads_accepted: summary.uploads_accepted,
        probes_checked: summary.probes_checked,
        mismatches: summary.mismatches,
        findings,
        timings: Timings {
            stages: stages.with_total(ms(started)),
            seeding: sites.into_iter().map(|s| s.seeding).collect(),
            probes: probe_timings,
            uploads,
        },
        ..ScenarioReport::default()
    }
    .evaluate(&scenario.expect))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// A scenario name as a folder name.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
