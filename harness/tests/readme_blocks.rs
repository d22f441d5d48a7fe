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

/// `harness scenario check FILE`: whether it accepts the text, and what it said.
fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readme.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["scenario", "check"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The README's annotated scenario marks its required keys: without any one of them the file is
/// refused, without any other it is accepted.
#[test]
fn the_annotated_scenario_marks_exactly_its_required_keys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("```toml\n")
        .map(|b| b.split("\n```").next().unwrap())
        .find(|b| b.starts_with("format ="))
        .expect("the annotated scenario");
    let lines: Vec<&str> = block.lines().collect();
    let mut required = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_key = line
            .split_once('=')
            .is_some_and(|(k, _)| !k.trim().is_empty() && !k.trim_start().starts_with('#'));
        if !is_key || line.trim_start().starts_with('[') {
            continue;
        }
        let marked = line
            .split_once('#')
            .is_some_and(|(_, comment)| comment.trim_start().starts_with("required"));
        let without: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| *l)
            .collect();
        let (accepted, said) = check(&without.join("\n"));
        assert_eq!(
            accepted,
            !marked,
            "without `{line}` the check {}: {said}",
            if accepted { "passed" } else { "failed" }
        );
        required += usize::from(marked);
    }
    assert!(required >= 5, "the required keys are no longer marked");
}

/// The README's whole scenario files (```toml blocks that begin with `format =`) are valid: what
/// it annotates is a file `harness scenario check` accepts.
#[test]
fn every_whole_scenario_in_the_readme_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    for (i, block) in readme.split("```toml\n").skip(1).enumerate() {
        let body = block.split("\n```").next().unwrap();
        if !body.starts_with("format =") {
            continue;
        }
        let (accepted, said) = check(body);
        assert!(
            accepted,
            "README toml block {i}:\n{body}\n--- stderr\n{said}"
        );
        checked += 1;
    }
    assert!(checked >= 1, "the README's annotated scenario is gone");
}
