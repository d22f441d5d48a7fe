//! The simulated pipeline of one scenario: seed every site, then for each weekly tick collect on
//! every site, replicate primaries to the CAS and submit from the top-level site to the upstream;
//! finally check what the upstream received.

mod replicate;
pub mod submit;

pub use replicate::replicate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use usage_protocol::fault::Fault;

use crate::check::{self, Finding, ReceivedUpload};
use crate::engine::{Engine, EngineError, SiteDatabase, WeeklyRun, engine_for};
use crate::generate;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts, SiteModel};
use crate::probes;
use crate::report::{
    ProbeTiming, ScenarioReport, SiteSeeding, StageTimings, Timings, UploadAttempt,
};
use crate::scenario::{EngineKind, FaultKind, Level, Scenario, ScpMode};
use crate::sct;
use usage_protocol::client::{RetryPolicy, Upstream};

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
    #[error("service connection tool, week {week}: {source}")]
    Sct {
        week: u32,
        source: crate::sct::SctError,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_path_buf();
    move |source| RunError::Io {
        action,
        path,
        source,
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
        FaultKind::ReplicationDown
        | FaultKind::LevelChange
        | FaultKind::CabCorrupted
        | FaultKind::CabRenamed => return None,
    })
}

/// One hierarchy of a scenario while it runs: the scenario's own, or a neighbor sharing its
/// service connection tool's folder.
struct HierarchyRun {
    model: HierarchyModel,
    /// `""` for the scenario's own hierarchy, `neighbor-N/` for the others: prefixes site names in
    /// findings and timings, and names the neighbor's output folder.
    label: String,
    hash: String,
    token: String,
    sites: Vec<SeededSite>,
    levels: Vec<Level>,
    payload_dir: PathBuf,
    /// Set when an offline `-connect` carried this hierarchy's data at least once.
    connected: bool,
}

impl HierarchyRun {
    fn site_label(&self, code: &str) -> String {
        format!("{}{code}", self.label)
    }
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
    for dir in [out.join("upstream"), out.join("payloads"), out.join("usb")] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err("clear", &dir))?;
        }
    }
    let server = crate::mock::start(&out.join("upstream"))
        .await
        .map_err(|e| RunError::Upstream(e.to_string()))?;
    let upstream = Upstream::new(
        server.base_url(),
        server.admin_token(),
        options.retry.clone(),
    );

    let mut stages = StageTimings::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut seeding = Vec::new();
    let bars = indicatif::MultiProgress::new();
    if !options.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }

    // Seed every hierarchy.
    let t = Instant::now();
    let mut runs = Vec::new();
    let mut engine_name = "";
    let mut provisioner = None;
    let mut engine_info = None;
    for (index, model) in HierarchyModel::all_of(&scenario).into_iter().enumerate() {
        let label = if index == 0 {
            String::new()
        } else {
            format!("neighbor-{index}/")
        };
        let dir = out.join(&label);
        let (sites_dir, payload_dir) = (dir.join("sites"), dir.join("payloads"));
        for d in [&sites_dir, &payload_dir] {
            std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        let prefix = format!(
            "cm_{}_{}",
            safe_name(&scenario.name),
            label.replace(['-', '/'], "")
        );
        let engine = engine_for(
            engine_kind,
            &sites_dir,
            &mut provisioner,
            &scenario.run,
            &prefix,
        )?;
        engine_name = engine.name();
        engine_info = Some(engine.info());
        let hash = tel_hash(&model.id.to_string());
        let token = upstream
            .register(&hash)
            .await
            .map_err(|e| RunError::Upstream(e.to_string()))?;
        let mut sites = Vec::new();
        for site in &model.sites {
            let bar = bars.add(indicatif::ProgressBar::new(estimated_rows(site)));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>5} seeding {bar:30} {human_pos}/{human_len} rows {per_sec} eta {eta}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(site.code.clone());
            let mut seeded = seed_site(engine.as_ref(), &model, site, &bar).await?;
            seeded.seeding.site = format!("{label}{}", site.code);
            seeding.push(seeded.seeding.clone());
            sites.push(seeded);
            bar.finish_and_clear();
        }
        let levels = if index == 0 {
            scenario.levels()
        } else {
            vec![model.level; scenario.weeks() as usize]
        };
        runs.push(HierarchyRun {
            model,
            label,
            hash,
            token,
            sites,
            levels,
            payload_dir,
            connected: false,
        });
    }
    let engine_info = engine_info.expect("a scenario has a hierarchy");
    stages.seed_ms = ms(t);

    // Weekly cycles.
    let weeks = scenario.weeks();
    let offline = scenario.hierarchy.scp_mode == ScpMode::Offline;
    let mut probe_timings = Vec::new();
    let mut uploads = Vec::new();
    for week in 1..=weeks {
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
        for run in &runs {
            let level = run.levels[week as usize - 1];
            let catalog = probes::for_level(level);
            let started_on = run.model.week_start(week);
            for site in &run.sites {
                let label = run.site_label(&site.model.code);
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
                                .site(&label)
                                .probe(p.probe),
                        );
                    }
                    probe_timings.push(ProbeTiming {
                        week,
                        site: label.clone(),
                        probe: p.probe.to_string(),
                        rows: p.rows,
                        ms: p.elapsed.as_secs_f64() * 1e3,
                    });
                }
                if let Some(budget) = scenario.budget.collect_ms_per_1k_clients
                    && site.model.clients > 0
                {
                    let per_1k = outcome.elapsed.as_secs_f64() * 1e3
                        / (f64::from(site.model.clients) / 1000.0);
                    if per_1k > budget {
                        findings.push(
                            Finding::new(
                                "budget_exceeded",
                                format!("collection took {per_1k:.1} ms per 1,000 clients; the budget is {budget}"),
                            )
                            .week(week)
                            .site(&label),
                        );
                    }
                }
            }
        }
        stages.collect_ms += ms(t);

        let t = Instant::now();
        for (index, run) in runs.iter().enumerate() {
            if !run.model.has_cas() {
                continue;
            }
            let down: Vec<String> = if index == 0 {
                scenario
                    .faults_at(week, FaultKind::ReplicationDown)
                    .filter_map(|f| f.site.as_ref().map(|s| s.get_ref().to_ascii_uppercase()))
                    .collect()
            } else {
                Vec::new()
            };
            let (cas, primaries) = run.sites.split_first().expect("a CAS and its primaries");
            for primary in primaries.iter().filter(|p| !down.contains(&p.model.code)) {
                replicate(cas.db.as_ref(), primary.db.as_ref()).await?;
            }
        }
        stages.replicate_ms += ms(t);

        let t = Instant::now();
        // Each hierarchy's payload is built once: kept on disk, and (online) the bytes uploaded.
        let mut gzipped = Vec::new();
        for run in &runs {
            let payload = submit::payload_for_week(run.sites[0].db.as_ref(), Some(week))
                .await
                .map_err(|source| RunError::Payload { week, source })?;
            let (json, gzip) = submit::encode(&payload);
            let path = run.payload_dir.join(format!("week-{week:03}.json"));
            std::fs::write(&path, &json).map_err(io_err("write", &path))?;
            gzipped.push(gzip);
        }
        if offline {
            let connected = offline_week(
                &scenario,
                &mut runs,
                week,
                &out,
                &server.base_url(),
                &mut findings,
                &mut uploads,
            )
            .await?;
            for run in runs.iter_mut() {
                run.connected |= connected.contains(&run.hash);
            }
        } else {
            let run = &runs[0];
            let gzip = gzipped.swap_remove(0);
            let key = submit::idempotency_key(&run.hash, week);
            let upload_start = Instant::now();
            match upstream.upload_usage(&run.token, &key, gzip).await {
                Ok(receipt) => uploads.push(UploadAttempt {
                    week,
                    attempts: receipt.attempts,
                    ms: ms(upload_start),
                    receipt: Some(receipt.receipt.id),
                    error: None,
                }),
                Err(e) => {
                    findings.push(
                        Finding::new("upload_failed", format!("week {week}: {e}")).week(week),
                    );
                    uploads.push(UploadAttempt {
                        week,
                        attempts: 0,
                        ms: ms(upload_start),
                        receipt: None,
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        // A level changed during this week is what the sites run with from the next one.
        for run in &runs {
            let level = run.levels[week as usize - 1];
            if let Some(next) = run.levels.get(week as usize)
                && *next != level
            {
                for site in &run.sites {
                    site.db.set_level(*next).await?;
                }
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
    let mut received: BTreeMap<String, Vec<ReceivedUpload>> = BTreeMap::new();
    for receipt in upstream
        .receipts()
        .await
        .map_err(|e| RunError::Upstream(e.to_string()))?
    {
        let json = upstream
            .upload_body(&receipt.id)
            .await
            .map_err(|e| RunError::Upstream(e.to_string()))?;
        received
            .entry(receipt.hierarchy_id)
            .or_default()
            .push(ReceivedUpload {
                receipt_id: receipt.id,
                json,
            });
    }
    let (mut uploads_accepted, mut probes_checked, mut mismatches) = (0, 0, 0);
    for run in &runs {
        let facts: BTreeMap<String, SiteFacts> = run
            .sites
            .iter()
            .map(|s| (s.model.code.clone(), s.facts.clone()))
            .collect();
        let expected = check::expected_weeks(&run.model, &facts, &run.levels, &engine_info);
        let summary = check::check_uploads(
            &run.model,
            &expected,
            received.get(&run.hash).map_or(&[][..], |v| &v[..]),
        );
        uploads_accepted += summary.uploads_accepted;
        probes_checked += summary.probes_checked;
        mismatches += summary.mismatches;
        findings.extend(summary.findings.into_iter().map(|mut f| {
            if !run.label.is_empty() {
                f.site = Some(run.site_label(f.site.as_deref().unwrap_or("")));
                f.message = format!("{}: {}", run.label.trim_end_matches('/'), f.message);
            }
            f
        }));
        if offline {
            findings.extend(check_update_packs(run).await?);
        }
    }
    for (hash, extra) in &received {
        if !runs.iter().any(|r| &r.hash == hash) {
            uploads_accepted += extra.len() as u32;
            findings.push(Finding::new(
                "upload_count",
                format!("{} upload(s) of an unknown hierarchy {hash}", extra.len()),
            ));
        }
    }
    stages.check_ms = ms(t);
    server.stop().await;

    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed,
        engine: engine_name.to_string(),
        out_dir: out.display().to_string(),
        uploads_accepted,
        probes_checked,
        mismatches,
        findings,
        timings: Timings {
            stages: stages.with_total(ms(started)),
            seeding,
            probes: probe_timings,
            uploads,
        },
        ..ScenarioReport::default()
    }
    .evaluate(&scenario.expect))
}

/// The offline week: every hierarchy's service connection tool prepares its cabinet into the
/// shared transfer folder, the scheduled cabinet faults strike, one `-connect` uploads the
/// folder and fetches the update packs, and every hierarchy imports its own. Returns the hashed
/// IDs of the hierarchies whose data the connect carried.
async fn offline_week(
    scenario: &Scenario,
    runs: &mut [HierarchyRun],
    week: u32,
    out: &Path,
    url: &str,
    findings: &mut Vec<Finding>,
    uploads: &mut Vec<UploadAttempt>,
) -> Result<Vec<String>, RunError> {
    let usb = out.join("usb").join(format!("week-{week:03}"));
    let packs = usb.join("UpdatePacks");
    std::fs::create_dir_all(&usb).map_err(io_err("create", &usb))?;
    for run in runs.iter() {
        let dest = usb.join(&run.model.cab_name);
        match sct::prepare(run.sites[0].db.as_ref(), Some(week), &dest).await {
            Ok(_) => {}
            Err(e @ sct::SctError::NameClash { .. }) => findings.push(
                Finding::new("cab_name_clash", format!("week {week}: {e}"))
                    .week(week)
                    .site(&run.site_label(&run.sites[0].model.code)),
            ),
            Err(e) => return Err(RunError::Sct { week, source: e }),
        }
    }
    let own = usb.join(&runs[0].model.cab_name);
    for _ in scenario.faults_at(week, FaultKind::CabCorrupted) {
        // The copy to the USB drive was interrupted: half a cabinet.
        let bytes = std::fs::read(&own).map_err(io_err("read", &own))?;
        std::fs::write(&own, &bytes[..bytes.len() / 2]).map_err(io_err("write", &own))?;
    }
    for f in scenario.faults_at(week, FaultKind::CabRenamed) {
        let to = usb.join(
            f.to.as_ref()
                .map(|t| t.get_ref().as_str())
                .unwrap_or("renamed.cab"),
        );
        std::fs::rename(&own, &to).map_err(io_err("rename", &own))?;
    }
    let started = Instant::now();
    let connected = match sct::connect(url, &runs[0].token, &usb, &packs).await {
        Ok(done) => {
            for u in &done {
                uploads.push(UploadAttempt {
                    week,
                    attempts: 1,
                    ms: ms(started),
                    receipt: Some(u.receipt.clone()),
                    error: None,
                });
            }
            done.into_iter().map(|u| u.hierarchy_hash).collect()
        }
        Err(e) => {
            findings.push(
                Finding::new(
                    "upload_failed",
                    format!("week {week}: service connection tool -connect: {e}"),
                )
                .week(week),
            );
            uploads.push(UploadAttempt {
                week,
                attempts: 1,
                ms: ms(started),
                receipt: None,
                error: Some(e.to_string()),
            });
            Vec::new()
        }
    };
    if packs.exists() {
        for run in runs.iter() {
            sct::import(run.sites[0].db.as_ref(), &packs)
                .await
                .map_err(|source| RunError::Sct { week, source })?;
        }
    }
    Ok(connected)
}

/// After an offline run: the top-level site holds exactly the update packs the service offers
/// for its version, once any `-connect` carried its data; none before.
async fn check_update_packs(run: &HierarchyRun) -> Result<Vec<Finding>, RunError> {
    let imported: Vec<String> = run.sites[0]
        .db
        .update_packs()
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut expected: Vec<String> = if run.connected {
        crate::mock::offered_packs(&run.model.version)
    } else {
        Vec::new()
    };
    expected.sort();
    Ok(if imported == expected {
        Vec::new()
    } else {
        vec![
            Finding::new(
                "update_packs",
                format!(
                    "{}site {} imported update packs {imported:?}; expected {expected:?}",
                    run.label, run.sites[0].model.code
                ),
            )
            .site(&run.site_label(&run.sites[0].model.code)),
        ]
    })
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
