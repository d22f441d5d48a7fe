//! A transfer folder's update-pack manifest as `-import` reads it: every pack file it accepts is
//! a plain name in the manifest's folder; anything else is refused naming the manifest.
#![no_main]

use std::path::Path;

use harness::sct;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("transfer/hierarchy/manifest.json");
    let checked = sct::read_manifest(path, data).and_then(|manifest| {
        sct::check_pack_files(path, &manifest)?;
        Ok(manifest)
    });
    match checked {
        Ok(manifest) => {
            for pack in &manifest.packs {
                let joined = Path::new("transfer/hierarchy").join(&pack.file);
                assert_eq!(joined.parent(), Some(Path::new("transfer/hierarchy")), "{:?}", pack.file);
                assert!(!pack.file.starts_with('.'), "{:?}", pack.file);
            }
        }
        Err(e) => assert!(e.to_string().contains("manifest.json"), "{e}"),
    }
});
