//! `harness check`: verifies a kept run again without running it. From each scenario's record
//! ([`manifest`]) it parses the scenario, applies the recorded seed and regenerates the oracles'
//! facts (the generator again, with no database); it reads the mock upstream's store read-only
//! (the server is never started on it), the stages' findings and the upload attempts the run
//! recorded, and — for an offline run — the update packs the top-level sites imported, from their
//! kept databases opened read-only. Then it runs the same verification as `harness run`
//! ([`verify::verify_run`]) and makes the same report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::EngineError;
use crate::engine::sqlite::SqliteEngine;
use crate::layout::{RunLayout, ScenarioLayout};
use crate::manifest::{self, ManifestError};
use crate::mock;
use crate::pipeline::seed;
use crate::pipeline::verify::{self, Explanations, HierarchyFacts, ReceivedUpload};
use crate::probes::Catalog;
use crate::report::{ScenarioReport, StageTimings, Timings};
use crate::scenario::{Scenario, ScenarioError, ScpMode};

/// Why a kept run could not be checked (as opposed to: it was checked and a check failed).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "{} is not a kept run: neither it nor a folder under it has a manifest.json (keep one \
         with `harness run --out DIR`){}",
        dir.display(),
        reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    NotAKeptRun {
        dir: PathBuf,
        reason: Option<std::io::Error>,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{}: the recorded scenario: {source}", manifest.display())]
    Scenario {
        manifest: PathBuf,
        source: ScenarioError,
    },
    #[error(
        "the probes in {dir} changed since the run: the kept run cannot be judged by probes it did not run (run it again)"
    )]
    ProbesChanged { dir: String },
    #[error("{}: the run's own probes: {source}", manifest.display())]
    Probes {
        manifest: PathBuf,
        source: crate::probes::ProbeFileError,
    },
    #[error("reading the mock upstream's store {}: {source}", store.display())]
    Store {
        store: PathBuf,
        source: mock::StoreError,
    },
    #[error(
        "{} is gone: an offline run's update packs are checked against the top-level site's \
         kept database (site {site}; the run's engine: {engine})",
        path.display()
    )]
    SiteDatabaseGone {
        path: PathBuf,
        site: String,
        engine: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The scenarios kept under `dir` (a run's `--out`, or one scenario's folder in it).
pub fn kept_scenarios(dir: &Path) -> Result<Vec<ScenarioLayout>, CheckError> {
    let not_kept = |reason| CheckError::NotAKeptRun {
        dir: dir.to_path_buf(),
        reason,
    };
    let kept = RunLayout::new(dir)
        .kept_scenarios()
        .map_err(|e| not_kept(Some(e)))?;
    if kept.is_empty() {
        return Err(not_kept(None));
    }
    Ok(kept)
}

/// Verifies one kept scenario again and returns its report, judged by its `[expect]`.
pub async fn check_scenario(layout: &ScenarioLayout) -> Result<ScenarioReport, CheckError> {
    let started = Instant::now();
    let manifest = manifest::read(layout)?;
    let uploads = manifest::read_uploads(layout)?;
    let mut scenario = Scenario::parse(&manifest.scenario.text, Path::new(&manifest.scenario.file))
        .map_err(|source| CheckError::Scenario {
            manifest: layout.manifest(),
            source,
        })?;
    scenario.seed = manifest.seed;
    let catalog = match &manifest.scenario.probes_dir {
        Some(dir) => Catalog::load(Path::new(dir)),
        None => Ok(Catalog::shipped()),
    }
    .map_err(|source| CheckError::Probes {
        manifest: layout.manifest(),
        source,
    })?;
    if catalog.digest() != manifest.scenario.probes_digest.as_deref() {
        return Err(CheckError::ProbesChanged {
            dir: manifest.scenario.probes_dir.clone().unwrap_or_default(),
        });
    }

    let mut hierarchies = seed::regenerate(&scenario, catalog);
    if scenario.hierarchy.scp_mode == ScpMode::Offline {
        for hierarchy in &mut hierarchies {
            hierarchy.imported_packs =
                Some(imported_packs(layout, hierarchy, &manifest.engine).await?);
        }
    }
    let store = layout.upstream();
    let received = mock::stored_uploads(&store)
        .map_err(|source| CheckError::Store { store, source })?
        .into_iter()
        .map(|(receipt, json)| {
            let upload = ReceivedUpload {
                received_at: receipt.received_at.parse().ok(),
                receipt_id: receipt.id,
                body_sha256: Some(receipt.body_sha256),
                json,
            };
            (receipt.hierarchy_id, upload)
        })
        .collect();
    let why = Explanations::of_run(&scenario, &manifest.stage_findings).with_uploads(&uploads);
    let verified = verify::verify_run(
        received,
        &hierarchies,
        &manifest.engine_info,
        &why,
        &manifest.connected,
    );
    let mut findings = manifest.stage_findings;
    findings.extend(verified.findings);

    let check_ms = started.elapsed().as_secs_f64() * 1e3;
    // The transport check's findings are the ones the run's submit stage recorded.
    let checks =
        crate::report::applied_checks(&verified.check_ms, 0.0, scenario.budget.is_set(), &findings);
    Ok(ScenarioReport {
        name: scenario.name.clone(),
        file: manifest.scenario.file,
        seed: scenario.seed,
        engine: manifest.engine,
        out_dir: layout.dir().display().to_string(),
        uploads_accepted: verified.uploads_accepted,
        probes_checked: verified.probes_checked,
        unchecked: verified.unchecked,
        unchecked_probes: verified.unchecked_probes.into_iter().collect(),
        mismatches: verified.mismatches,
        findings,
        checks,
        timings: Timings {
            stages: StageTimings {
                check_ms,
                ..StageTimings::default()
            }
            .with_total(check_ms),
            transport_wait_s: uploads.iter().map(|u| u.waited_s).sum(),
            uploads,
            ..Timings::default()
        },
        ..ScenarioReport::default()
    }
    .evaluate(&scenario.expect))
}

/// The update packs a hierarchy's top-level site imported, from its kept database, read-only.
async fn imported_packs(
    layout: &ScenarioLayout,
    hierarchy: &HierarchyFacts,
    engine: &str,
) -> Result<Vec<String>, CheckError> {
    let top = &hierarchy.model.top().code;
    let path = layout.hierarchy(&hierarchy.label).site_db(top);
    if !path.is_file() {
        return Err(CheckError::SiteDatabaseGone {
            path,
            site: hierarchy.site_label(top),
            engine: engine.to_string(),
        });
    }
    let db = SqliteEngine::open_read_only(&path)?;
    Ok(db.update_packs().await?.into_iter().map(|p| p.id).collect())
}
