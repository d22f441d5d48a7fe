//! The weekly pipeline's stages on the embedded engine: a weekly run of every Full-level probe on
//! one primary, a replication pass to the CAS, and the upstream's ingest of one gzip'd upload.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use harness::engine::WeeklyRun;
use harness::engine::sqlite::SqliteEngine;
use harness::model::HierarchyModel;
use harness::pipeline::seed;
use harness::probes;
use harness::scenario::{Level, Scenario};
use usage_protocol::client::{RetryPolicy, Upstream};

fn hierarchy(clients: u32) -> HierarchyModel {
    let text = format!(
        "name = \"bench\"\nseed = 1\n[hierarchy]\ncas = true\nlevel = \"full\"\ninstalled = \"2026-01-05\"\n\
         [[hierarchy.primary]]\ncode = \"P01\"\nclients = {clients}\n"
    );
    HierarchyModel::from_scenario(
        &Scenario::parse(&text, std::path::Path::new("bench.toml")).expect("valid"),
    )
}

fn weekly(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("weekly");
    group.sample_size(10);
    for clients in [5_000u32, 25_000] {
        let model = hierarchy(clients);
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = SqliteEngine::new(dir.path());
        let sites = runtime
            .block_on(seed::seed_hierarchy(
                &engine,
                &model,
                probes::Catalog::shipped(),
                &seed::hidden_progress(),
            ))
            .expect("seeds");
        let catalog = probes::for_level(Level::Full);
        let mut week = 0;
        group.throughput(Throughput::Elements(u64::from(clients)));
        group.bench_function(BenchmarkId::new("collect_full_level", clients), |b| {
            b.iter(|| {
                week += 1;
                runtime.block_on(sites[1].db.run_weekly(&WeeklyRun {
                    week,
                    started_on: model.week_start(week),
                    probes: &catalog,
                }))
            })
        });
        // One pass that carries one new week of the primary's results (the week's run is setup,
        // not measured).
        group.throughput(Throughput::Elements(1));
        group.bench_function(
            BenchmarkId::new("replicate_one_week_to_cas", clients),
            |b| {
                b.iter_batched(
                    || {
                        week += 1;
                        let run = WeeklyRun {
                            week,
                            started_on: model.week_start(week),
                            probes: &catalog,
                        };
                        runtime
                            .block_on(sites[1].db.run_weekly(&run))
                            .expect("weekly run");
                    },
                    |()| {
                        runtime.block_on(harness::pipeline::replicate::replicate(
                            sites[0].db.as_ref(),
                            sites[1].db.as_ref(),
                        ))
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, upstream, token) = runtime.block_on(async {
        let server = mock_upstream::start(mock_upstream::Config::new(dir.path()))
            .await
            .expect("server");
        let upstream = Upstream::new(
            server.base_url(),
            server.admin_token(),
            RetryPolicy::default(),
        );
        let hash = harness::hash::tel_hash("bench-hierarchy");
        let token = upstream.register(&hash).await.expect("register");
        (server, upstream, token)
    });
    let (_, gzip) = harness::load::payload_of_size(&harness::hash::tel_hash("bench-hierarchy"), 10);
    let mut group = c.benchmark_group("upstream");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(gzip.len() as u64));
    let mut n = 0u64;
    group.bench_function("ingest_10kb_gzip_upload", |b| {
        b.iter(|| {
            n += 1;
            runtime
                .block_on(upstream.upload_usage(&token, &format!("bench-{n}"), gzip.clone()))
                .expect("stored")
        })
    });
    group.finish();
    runtime.block_on(server.stop());
}

criterion_group!(benches, weekly, ingest);
criterion_main!(benches);
