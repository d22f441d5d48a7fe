//! The scenario reader over arbitrary and mutated files: every input is either a valid scenario
//! or an error that names the file (and, for a bad value, its key) — never a panic. Valid
//! results keep every count within its hard cap, so nothing that parses can ask the generator
//! for more than a machine has. `PROPTEST_CASES` raises the count for long runs.

mod common;

use std::path::Path;

use harness::scenario::{COUNT_BOUNDS, MAX_ROWS_PER_SITE, Scenario, SiteCounts};
use proptest::prelude::*;

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(name),
    )
    .unwrap()
}

/// Text edits of `base`: a character range replaced by fuzz (often digits, quotes, brackets,
/// newlines, huge numbers), or a line dropped or doubled.
fn mutated(base: String) -> impl Strategy<Value = String> {
    let len = base.len();
    let fuzz = prop_oneof![
        "[0-9]{1,12}",
        "-?[0-9]{10,25}",
        "[\\[\\]{}=\"'#.,\\n a-z_]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec((0..len, 0..8usize, fuzz), 1..4).prop_map(move |edits| {
        let mut text = base.clone();
        for (at, cut, with) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end, &with);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn a_scenario_file_parses_or_names_its_problem(
        text in prop_oneof![
            mutated(shipped("smoke.toml")),
            mutated(shipped("hierarchy.toml")),
            mutated(shipped("field/replication-outage-then-throttling.toml")),
            any::<String>(),
        ]
    ) {
        match Scenario::parse(&text, Path::new("fuzzed.toml")) {
            Ok(scenario) => {
                for site in &scenario.hierarchy.primary {
                    for bound in &COUNT_BOUNDS {
                        prop_assert!(*bound.of(site).get_ref() <= bound.hard_cap);
                    }
                    prop_assert!(SiteCounts::of(site).estimated_rows() <= MAX_ROWS_PER_SITE);
                }
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("fuzzed.toml"), "{}", message);
            }
        }
    }
}

/// A stand-alone offline site of a few clients, with one weekly run at Full.
async fn offline_site(dir: &Path) -> std::sync::Arc<dyn harness::engine::SiteDatabase> {
    let text = "name = \"t\"\nseed = 5\n[hierarchy]\nscp_mode = \"offline\"\nlevel = \"full\"\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = 40\ncustom_tables = 2\n";
    let (hierarchy, _, mut sites) = common::seed_all(&common::scenario(text), dir).await;
    let db = sites.remove(0).db;
    db.run_weekly(&harness::engine::WeeklyRun {
        week: 1,
        started_on: hierarchy.week_start(1),
        probes: &harness::probes::for_level(harness::scenario::Level::Full),
    })
    .await
    .unwrap();
    db
}

/// The export reader of `harness scenario from-export` over arbitrary bytes and mutated exports
/// (a real `sct export` of a site, with cells, quotes, commas and lines edited): every input is
/// read or refused with an error that names the file (and the line, for a bad row), never a
/// panic; what is read derives a scenario or is refused naming the file, and a derived scenario
/// loads.
#[test]
fn an_export_csv_is_read_or_refused_naming_its_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let db = runtime.block_on(offline_site(&root.path().join("sites")));
    let base = root.path().join("base.csv");
    let rows = runtime
        .block_on(harness::sct::export(
            db.as_ref(),
            harness::probes::Catalog::shipped(),
            None,
            &base,
        ))
        .unwrap();
    assert!(rows > 10, "the export has rows to mutate");
    let base = std::fs::read_to_string(&base).unwrap();
    let fuzzed = root.path().join("fuzzed.csv");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    let inputs = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        mutated(base.clone()).prop_map(String::into_bytes),
        mutated(base).prop_map(|text| {
            // Whole lines dropped or repeated keep the columns and change the story.
            let lines: Vec<&str> = text.lines().collect();
            let mut out = String::new();
            for (i, line) in lines.iter().enumerate() {
                match i % 7 {
                    3 => {}
                    5 => out.push_str(&format!("{line}\n{line}\n")),
                    _ => out.push_str(&format!("{line}\n")),
                }
            }
            out.into_bytes()
        }),
    ];
    runner
        .run(&inputs, |bytes| {
            std::fs::write(&fuzzed, &bytes).unwrap();
            let names_the_file = |message: &str| message.contains(&fuzzed.display().to_string());
            match harness::from_export::read(&fuzzed) {
                Ok(export) => match harness::from_export::derive(&export, "fuzzed") {
                    Ok(derived) => {
                        let loaded = Scenario::parse(&derived.text, Path::new("derived.toml"));
                        prop_assert!(
                            loaded.is_ok(),
                            "a derived scenario does not load: {:?}",
                            loaded.err()
                        );
                    }
                    Err(e) => prop_assert!(names_the_file(&e.to_string()), "{}", e),
                },
                Err(e) => prop_assert!(names_the_file(&e.to_string()), "{}", e),
            }
            Ok(())
        })
        .unwrap();
}

/// A transfer folder's manifest as `-import` reads it: arbitrary bytes, or a manifest for the
/// site's own hierarchy whose pack files are drawn from names that stay in the folder and names
/// that leave it (up, absolute, a device, hidden, nested, missing), with right and wrong digests,
/// as written or with its text mutated. Each folder is imported by the real `sct::import` into a
/// real site database: it imports only packs whose file is a regular file in the folder with the
/// announced digest, or it is refused with an error that names the file or the pack, never a
/// panic. The receipt beside it is fuzzed the same way.
#[test]
fn a_transfer_folder_imports_or_is_refused_naming_its_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let db = runtime.block_on(offline_site(&root.path().join("sites")));
    let own = harness::hash::tel_hash(&runtime.block_on(db.site_info()).unwrap().hierarchy_id);
    let outside = root.path().join("outside.pack");
    std::fs::write(&outside, b"outside").unwrap();
    let good = usage_protocol::sha256_hex(b"pack one");
    let files = prop_oneof![
        Just("cm-1.pack".to_string()),
        Just("cm-2.pack".to_string()),
        Just("../outside.pack".to_string()),
        Just("../../outside.pack".to_string()),
        Just(outside.display().to_string()),
        Just("/dev/zero".to_string()),
        Just(".hidden".to_string()),
        Just(String::new()),
        Just("sub/cm-1.pack".to_string()),
        "[a-z0-9./\\\\:-]{0,12}",
    ];
    let digests = prop_oneof![Just(good.clone()), "[0-9a-f]{0,64}"];
    let packs = prop::collection::vec(("cm-[0-9]{1,2}", files, digests), 0..4);
    let (own_id, own_for_json) = (own.clone(), own.clone());
    let manifests = packs.prop_map(move |packs| {
        serde_json::json!({
            "hierarchy_id": own_for_json,
            "packs": packs.into_iter().map(|(id, file, sha)| serde_json::json!({
                "id": id, "name": "n", "version": "5.00.9128.1000", "sha256": sha, "file": file,
            })).collect::<Vec<_>>(),
        })
        .to_string()
    });
    let manifest_bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        manifests.clone().prop_map(String::into_bytes),
        manifests
            .prop_flat_map(mutated)
            .prop_map(String::into_bytes),
    ];
    let receipt_bytes = prop::option::of(prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        "[{}\\[\\]\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
    ]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&(manifest_bytes, receipt_bytes), |(manifest, receipt)| {
            let src = root.path().join(format!(
                "src-{}",
                case.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ));
            let folder = src.join(harness::sct::hierarchy_folder(&own_id));
            std::fs::create_dir_all(folder.join("sub")).unwrap();
            std::fs::write(folder.join("cm-1.pack"), b"pack one").unwrap();
            std::fs::write(folder.join("sub/cm-1.pack"), b"pack one").unwrap();
            std::fs::write(folder.join(".hidden"), b"pack one").unwrap();
            std::fs::write(folder.join(harness::sct::MANIFEST), &manifest).unwrap();
            if let Some(receipt) = &receipt {
                std::fs::write(folder.join(harness::sct::RECEIPT), receipt).unwrap();
            }
            match runtime.block_on(harness::sct::import(db.as_ref(), &src)) {
                Ok(outcome) => {
                    // Only what the manifest names, each from a plain name in the folder with
                    // the bytes its digest announces.
                    let parsed: harness::sct::PackManifest =
                        serde_json::from_slice(&manifest).expect("an imported manifest parses");
                    for id in &outcome.imported {
                        let pack = parsed
                            .packs
                            .iter()
                            .find(|p| &p.pack.id == id)
                            .expect("an imported pack is in the manifest");
                        prop_assert!(
                            !pack.file.contains(['/', '\\']) && !pack.file.starts_with('.'),
                            "imported {} from {:?}",
                            id,
                            pack.file
                        );
                        let bytes = std::fs::read(folder.join(&pack.file)).unwrap();
                        prop_assert_eq!(
                            usage_protocol::sha256_hex(&bytes),
                            pack.pack.sha256.clone()
                        );
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(
                        message.contains(&src.display().to_string())
                            || message.starts_with("update pack "),
                        "the error names neither a file nor a pack: {}",
                        message
                    );
                }
            }
            std::fs::remove_dir_all(&src).unwrap();
            Ok(())
        })
        .unwrap();
    assert!(outside.is_file(), "nothing outside the folder is touched");
}
