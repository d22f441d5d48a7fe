//! Records the git commit the binary is built from (`HARNESS_GIT_COMMIT`), for a kept run's
//! manifest. Without git, or outside a repository, it is `unknown`: this script never fails the
//! build.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HARNESS_GIT_COMMIT={commit}");
    // Built again when HEAD moves (a commit, a checkout); only files that exist are watched, as
    // cargo would otherwise run this script on every build.
    for file in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file])
            && std::path::Path::new(&path).exists()
        {
            let path = std::fs::canonicalize(&path).unwrap_or_else(|_| path.into());
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
