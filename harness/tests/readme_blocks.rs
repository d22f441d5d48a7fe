//! The README's shell blocks marked `<!-- runnable -->` are run as a user would type them, in an
//! empty folder beside this repository's `scenarios/` and `examples/`, with `harness` on the
//! PATH: a command the README shows must work as shown.

use std::path::Path;
use std::process::Command;

/// The blocks after a `<!-- runnable -->` line: (the README line of the block, its text).
fn runnable_blocks(readme: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "<!-- runnable -->" {
            continue;
        }
        assert_eq!(
            lines.get(i + 1).map(|l| l.trim()),
            Some("```sh"),
            "README line {}: a runnable marker must stand just before a ```sh block",
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        blocks.push((i + 3, body.join("\n")));
    }
    blocks
}

#[test]
fn every_runnable_block_of_the_readme_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 3, "the README's runnable blocks are gone");
    let harness = Path::new(env!("CARGO_BIN_EXE_harness"));
    let path = format!(
        "{}:{}",
        harness.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (line, block) in blocks {
        let dir = tempfile::tempdir().unwrap();
        for shared in ["scenarios", "examples"] {
            std::os::unix::fs::symlink(
                root.join(shared).canonicalize().unwrap(),
                dir.path().join(shared),
            )
            .unwrap();
        }
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README line {line}:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
