//! Seed: every site of every hierarchy gets its own database, filled by the streaming generator
//! while the oracles' facts are accumulated, and each hierarchy is registered with the upstream.

use std::sync::Arc;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use usage_protocol::client::Upstream;

use super::RunError;
use super::verify::HierarchyFacts;
use crate::engine::{Engine, EngineError, SiteDatabase, engine_for};
use crate::generate;
use crate::hash::tel_hash;
use crate::layout::{HierarchyLayout, ScenarioLayout};
use crate::model::{HierarchyModel, SiteFacts, SiteModel};
use crate::probes::{Catalog, EngineInfo};
use crate::report::SiteSeeding;
use crate::scenario::{EngineKind, Level, Scenario};

/// A seeded site: its database and the oracle's facts about it.
pub struct SeededSite {
    pub model: SiteModel,
    pub db: Arc<dyn SiteDatabase>,
    pub facts: SiteFacts,
    pub seeding: SiteSeeding,
}

/// One hierarchy of a scenario, seeded: the scenario's own, or a neighbor sharing its service
/// connection tool's transfer folder.
pub struct SeededHierarchy {
    pub model: HierarchyModel,
    /// The probes its sites run.
    pub catalog: &'static Catalog,
    /// `""` for the scenario's own hierarchy, `neighbor-N/` for the others: prefixes site names
    /// in findings and timings, and names the neighbor's output folder.
    pub label: String,
    /// The hashed hierarchy ID, as the upstream knows it.
    pub hash: String,
    /// The bearer token the upstream issued to this hierarchy.
    pub token: String,
    /// The top-level site first (the CAS when there is one), then the primaries.
    pub sites: Vec<SeededSite>,
    /// The level in force during each week (index 0 is week 1).
    pub levels: Vec<Level>,
    pub layout: HierarchyLayout,
}

impl SeededHierarchy {
    /// A site's name in findings and timings.
    pub fn site_label(&self, code: &str) -> String {
        format!("{}{code}", self.label)
    }

    pub fn top(&self) -> &SeededSite {
        &self.sites[0]
    }

    pub fn level_in(&self, week: u32) -> Level {
        self.levels[week as usize - 1]
    }

    /// What verification needs of this hierarchy; with the top-level site's imported update
    /// packs when `offline` (they are checked then).
    pub async fn verify_input(&self, offline: bool) -> Result<HierarchyFacts, EngineError> {
        let imported_packs = if offline {
            let packs = self.top().db.update_packs().await?;
            Some(packs.into_iter().map(|p| p.id).collect())
        } else {
            None
        };
        Ok(HierarchyFacts {
            model: self.model.clone(),
            catalog: self.catalog,
            label: self.label.clone(),
            hash: self.hash.clone(),
            levels: self.levels.clone(),
            facts: self
                .sites
                .iter()
                .map(|s| (s.model.code.clone(), s.facts.clone()))
                .collect(),
            imported_packs,
        })
    }
}

/// The label of a scenario's hierarchy `index`: `""` for its own, `neighbor-N/` for the others.
fn label_of(index: usize) -> String {
    if index == 0 {
        String::new()
    } else {
        format!("neighbor-{index}/")
    }
}

/// The level in force each week in hierarchy `index`: the scenario's schedule for its own, the
/// neighbor's level throughout for the others.
fn levels_of(scenario: &Scenario, index: usize, model: &HierarchyModel) -> Vec<Level> {
    if index == 0 {
        scenario.levels()
    } else {
        vec![model.level; scenario.weeks() as usize]
    }
}

/// Every hierarchy of `scenario` as verification needs it, without a database: the generator
/// runs again from the seed into a sink that drops the rows, and only the facts remain. No
/// update packs are read (`imported_packs` is `None`).
pub fn regenerate(scenario: &Scenario, catalog: &'static Catalog) -> Vec<HierarchyFacts> {
    HierarchyModel::all_of(scenario)
        .into_iter()
        .enumerate()
        .map(|(index, model)| HierarchyFacts {
            catalog,
            label: label_of(index),
            hash: tel_hash(&model.id.to_string()),
            levels: levels_of(scenario, index, &model),
            facts: model
                .sites
                .iter()
                .map(|site| (site.code.clone(), generate::site_facts(site)))
                .collect(),
            imported_packs: None,
            model,
        })
        .collect()
}

/// Every hierarchy of a scenario, seeded, and the engine they run on.
pub struct Seeded {
    pub hierarchies: Vec<SeededHierarchy>,
    pub engine: &'static str,
    /// Read after the sites are open: a SQL Server engine learns its version on first contact.
    pub engine_info: EngineInfo,
}

impl Seeded {
    /// Closes every site's database, as many at once as the machine has cores, and waits for
    /// them, inside the run's timing. Closing an embedded site's file waits for the sync of its
    /// seeded pages, then checkpoints its write-ahead log and syncs the file again: one after
    /// another, on the async thread after the run's total was taken, the 26 sites of the largest
    /// hierarchy took a second no timing showed. Returns the engine's name and version.
    pub async fn close(self) -> (&'static str, EngineInfo) {
        use futures_util::stream::{self, StreamExt};
        let dbs: Vec<Arc<dyn SiteDatabase>> = self
            .hierarchies
            .into_iter()
            .flat_map(|h| h.sites.into_iter().map(|s| s.db))
            .collect();
        stream::iter(dbs)
            .for_each_concurrent(parallel_sites(), |db| async move {
                // A task that panicked while dropping a connection leaves nothing to report:
                // the file is closed either way.
                let _ = tokio::task::spawn_blocking(move || drop(db)).await;
            })
            .await;
        (self.engine, self.engine_info)
    }
}

/// Seeds every hierarchy of `scenario` on `kind` and registers each with the upstream.
pub async fn seed_scenario(
    scenario: &Scenario,
    catalog: &'static Catalog,
    kind: EngineKind,
    layout: &ScenarioLayout,
    upstream: &Upstream,
    progress: &MultiProgress,
) -> Result<Seeded, RunError> {
    let mut hierarchies = Vec::new();
    let mut provisioner = None;
    let mut last_engine = None;
    for (index, model) in HierarchyModel::all_of(scenario).into_iter().enumerate() {
        let label = label_of(index);
        let hierarchy_layout = layout.hierarchy(&label);
        hierarchy_layout.create()?;
        let prefix = format!(
            "cm_{}_{}",
            layout
                .dir()
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            label.replace(['-', '/'], "")
        );
        let engine = engine_for(
            kind,
            &hierarchy_layout.sites(),
            &mut provisioner,
            &scenario.run,
            &prefix,
        )?;
        let hash = tel_hash(&model.id.to_string());
        let token = upstream.register(&hash).await?;
        let mut sites = seed_hierarchy(engine.as_ref(), &model, catalog, progress).await?;
        for site in &mut sites {
            site.seeding.site = format!("{label}{}", site.model.code);
        }
        let levels = levels_of(scenario, index, &model);
        hierarchies.push(SeededHierarchy {
            model,
            catalog,
            label,
            hash,
            token,
            sites,
            levels,
            layout: hierarchy_layout,
        });
        last_engine = Some(engine);
    }
    let engine = last_engine.expect("a scenario has a hierarchy");
    Ok(Seeded {
        hierarchies,
        engine: engine.name(),
        engine_info: engine.info(),
    })
}

/// Seeds every site of one hierarchy, one progress bar a site (hidden unless `progress` draws).
/// Sites are seeded as many at a time as the machine has cores — each with its generator on one
/// blocking thread and its database writer on another — and come back in the model's order;
/// every site's rows depend on its own seed only, so the bytes do not depend on the overlap.
pub async fn seed_hierarchy(
    engine: &dyn Engine,
    hierarchy: &HierarchyModel,
    probes: &Catalog,
    progress: &MultiProgress,
) -> Result<Vec<SeededSite>, EngineError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(&hierarchy.sites)
        .map(|site| async move {
            let bar = progress.add(ProgressBar::new(estimated_rows(site)));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>5} seeding {bar:30} {human_pos}/{human_len} rows {rate} eta {eta}",
                )
                .expect("valid template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(
                            w,
                            "{} rows/s",
                            indicatif::HumanCount(state.per_sec() as u64)
                        );
                    },
                ),
            );
            bar.set_prefix(site.code.clone());
            let seeded = seed_site(engine, hierarchy, site, probes, &bar).await;
            bar.finish_and_clear();
            seeded
        })
        .buffered(parallel_sites())
        .try_collect()
        .await
}

/// How many sites are seeded or collected at once: one per core.
pub fn parallel_sites() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A progress display that draws nothing: for tests, benchmarks and `--no-progress`.
pub fn hidden_progress() -> MultiProgress {
    MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
}

/// Creates a site's database and streams its generated rows into it.
pub async fn seed_site(
    engine: &dyn Engine,
    hierarchy: &HierarchyModel,
    site: &SiteModel,
    probes: &Catalog,
    progress: &ProgressBar,
) -> Result<SeededSite, EngineError> {
    let start = Instant::now();
    let db = engine.open_site(site).await?;
    db.install(hierarchy, site, probes).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let model = site.clone();
    let bar = progress.clone();
    let generator = tokio::task::spawn_blocking(move || {
        generate::stream_site(&model, |batch| {
            bar.inc(batch.rows());
            // The length is an estimate (deployment types and boundaries per item vary): when
            // the site holds more, the bar grows rather than pass 100 %.
            if bar.position() > bar.length().unwrap_or(0) {
                bar.set_length(bar.position());
            }
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
    crate::scenario::SiteCounts {
        clients: site.clients,
        apps: site.apps,
        updates: site.updates,
        updates_per_client: site.updates_per_client,
        collections: site.collections,
        custom_tables: site.custom_tables,
        boundary_groups: site.boundary_groups,
        update_groups: site.update_groups,
    }
    .estimated_rows()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlite::SqliteEngine;

    #[tokio::test]
    async fn regenerated_facts_are_the_seeded_ones() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/offline-multi-hierarchy.toml"
        );
        let scenario = Scenario::load(std::path::Path::new(path)).unwrap();
        let regenerated = regenerate(&scenario, Catalog::shipped());
        let models = HierarchyModel::all_of(&scenario);
        assert_eq!(regenerated.len(), models.len());
        assert!(regenerated.len() > 1, "a neighbor too");
        let dir = tempfile::tempdir().unwrap();
        for (index, (again, model)) in regenerated.iter().zip(&models).enumerate() {
            let engine = SqliteEngine::new(dir.path().join(index.to_string()));
            let seeded = seed_hierarchy(&engine, model, Catalog::shipped(), &hidden_progress())
                .await
                .unwrap();
            assert_eq!(again.facts.len(), seeded.len());
            for site in &seeded {
                assert_eq!(
                    again.facts[&site.model.code], site.facts,
                    "{}",
                    site.model.code
                );
            }
            assert_eq!(again.label, label_of(index));
            assert_eq!(again.hash, tel_hash(&model.id.to_string()));
            assert_eq!(again.levels, levels_of(&scenario, index, model));
            assert!(again.imported_packs.is_none());
        }
    }
}
