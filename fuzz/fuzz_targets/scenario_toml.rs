//! A scenario file: a scenario within every count's hard cap, or an error that names the file,
//! never a panic.
#![no_main]

use std::path::Path;

use harness::scenario::{COUNT_BOUNDS, MAX_ROWS_PER_SITE, Scenario, SiteCounts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse(text, Path::new("fuzzed.toml")) {
        Ok(scenario) => {
            for site in &scenario.hierarchy.primary {
                for bound in &COUNT_BOUNDS {
                    assert!(*bound.of(site).get_ref() <= bound.hard_cap);
                }
                assert!(SiteCounts::of(site).estimated_rows() <= MAX_ROWS_PER_SITE);
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzzed.toml"), "{e}"),
    }
});
