//! `harness scenario upgrade`: rewrites a scenario file of an older format as the current one,
//! keeping everything else — comments, order, spacing — as the user wrote it.

use std::path::Path;

use super::{FORMAT, Scenario, ScenarioError};

/// What an upgrade did to one file.
#[derive(Debug, PartialEq, Eq)]
pub enum Upgraded {
    /// Rewritten from this format.
    From(u32),
    /// Already of the current format: left as it was.
    Current,
}

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The text of a format-1 file as format [`FORMAT`]: `format = N` is put before the first line
/// that is neither blank nor a comment (top-level keys must come before any table).
pub fn upgraded_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut placed = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if !placed && !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push_str(&format!("format = {FORMAT}\n"));
            placed = true;
        }
        out.push_str(line);
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("format = {FORMAT}\n"));
    }
    out
}

/// Upgrades `path` in place. The file must read as a valid scenario before and after; the new
/// text replaces the old atomically (a crash leaves one or the other).
pub fn upgrade_file(path: &Path) -> Result<Upgraded, UpgradeError> {
    let scenario = Scenario::load(path)?;
    let from = scenario.format();
    if from == FORMAT {
        return Ok(Upgraded::Current);
    }
    let text = upgraded_text(&scenario.text);
    Scenario::parse(&text, path)?;
    usage_protocol::durable::write_file(path, text.as_bytes()).map_err(|source| {
        UpgradeError::Write {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(Upgraded::From(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_goes_before_the_first_key_and_comments_stay() {
        let text = "# my field case\n\nname = \"x\" # inline\n[hierarchy]\n";
        assert_eq!(
            upgraded_text(text),
            format!("# my field case\n\nformat = {FORMAT}\nname = \"x\" # inline\n[hierarchy]\n")
        );
    }
}
