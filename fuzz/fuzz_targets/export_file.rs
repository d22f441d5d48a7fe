//! An export `harness scenario from-export` reads (a `-export` CSV or a `-prepare` cabinet): read
//! and derived into a scenario that loads, or refused naming the file, never a panic.
#![no_main]

use std::path::Path;

use harness::from_export;
use harness::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzzed.csv");
    match from_export::parse(path, data).and_then(|export| from_export::derive(&export, "fuzzed")) {
        Ok(derived) => {
            if let Err(e) = Scenario::parse(&derived.text, Path::new("derived.toml")) {
                panic!("a derived scenario does not load: {e}");
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzzed.csv"), "{e}"),
    }
});
