//! Seeding throughput: generating a primary site's rows and bulk-loading them into its embedded
//! (SQLite) database, and generation alone for comparison. Throughput is in rows.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use harness::engine::Engine;
use harness::engine::sqlite::SqliteEngine;
use harness::model::HierarchyModel;
use harness::scenario::Scenario;

fn scenario(clients: u32) -> Scenario {
    let text = format!(
        "name = \"bench\"\nseed = 1\n[hierarchy]\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = {clients}\n"
    );
    Scenario::parse(&text, std::path::Path::new("bench.toml")).expect("valid bench scenario")
}

fn seeding(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("seed_primary");
    group.sample_size(10);
    for clients in [5_000u32, 25_000] {
        let hierarchy = HierarchyModel::from_scenario(&scenario(clients));
        let site = hierarchy.sites[0].clone();
        let rows = harness::generate::stream_site(&site, |_| Ok::<(), ()>(()))
            .expect("generates")
            .rows_generated;
        group.throughput(Throughput::Elements(rows));
        group.bench_with_input(
            BenchmarkId::new("generate_only", clients),
            &site,
            |b, site| {
                b.iter(|| {
                    harness::generate::stream_site(site, |batch| {
                        drop(batch);
                        Ok::<(), ()>(())
                    })
                    .expect("generates")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("generate_and_load_sqlite", clients),
            &site,
            |b, site| {
                b.iter(|| {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let engine = SqliteEngine::new(dir.path());
                    runtime.block_on(async {
                        let bar = indicatif::ProgressBar::hidden();
                        harness::pipeline::seed::seed_site(
                            &engine as &dyn Engine,
                            &hierarchy,
                            site,
                            harness::probes::Catalog::shipped(),
                            &bar,
                        )
                        .await
                        .expect("seeds")
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, seeding);
criterion_main!(benches);
