//! The scenario reader over arbitrary and mutated files: every input is either a valid scenario
//! or an error that names the file (and, for a bad value, its key) — never a panic. Valid
//! results keep every count within its hard cap, so nothing that parses can ask the generator
//! for more than a machine has. `PROPTEST_CASES` raises the count for long runs.

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// The update-pack manifest and the receipt `-import` reads from a transfer folder.
    #[test]
    fn a_manifest_or_receipt_parses_or_is_refused(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "[{}\\[\\]\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
        ]
    ) {
        let _ = serde_json::from_slice::<harness::sct::PackManifest>(&bytes);
        let _ = serde_json::from_slice::<usage_protocol::Receipt>(&bytes);
    }
}
