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
    #[error("{} is read-only: it is left as it is (make it writable to upgrade it)", path.display())]
    ReadOnly { path: std::path::PathBuf },
}

/// The text of an older file as format [`FORMAT`]. A `format = N` it has (its value at
/// `format_span`) is rewritten in place; otherwise one is put before the first line that is
/// neither blank nor a comment (top-level keys must come before any table), with the file's
/// own line ending, after a byte-order mark if it starts with one.
pub fn upgraded_text(text: &str, format_span: Option<std::ops::Range<usize>>) -> String {
    if let Some(span) = format_span {
        return format!("{}{FORMAT}{}", &text[..span.start], &text[span.end..]);
    }
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    };
    let eol = if body.contains("\r\n") { "\r\n" } else { "\n" };
    let line = format!("format = {FORMAT}{eol}");
    let mut out = String::with_capacity(text.len() + line.len());
    out.push_str(bom);
    let mut placed = false;
    for existing in body.split_inclusive('\n') {
        let trimmed = existing.trim_start();
        if !placed && !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push_str(&line);
            placed = true;
        }
        out.push_str(existing);
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        out.push_str(&line);
    }
    out
}

/// Upgrades `path` in place. The file must read as a valid scenario before and after; the new
/// text replaces the old atomically (a crash leaves one or the other).
/// A link is followed: the file it points to is upgraded, and the link stays a link. The
/// file keeps its permissions; a read-only one is refused.
pub fn upgrade_file(path: &Path) -> Result<Upgraded, UpgradeError> {
    let scenario = Scenario::load(path)?;
    let from = scenario.format();
    if from == FORMAT {
        return Ok(Upgraded::Current);
    }
    let write_failed = |source| UpgradeError::Write {
        path: path.to_path_buf(),
        source,
    };
    let target = std::fs::canonicalize(path).map_err(write_failed)?;
    let permissions = std::fs::metadata(&target)
        .map_err(write_failed)?
        .permissions();
    if permissions.readonly() {
        return Err(UpgradeError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    let text = upgraded_text(&scenario.text, scenario.format.as_ref().map(|f| f.span()));
    Scenario::parse(&text, path)?;
    usage_protocol::durable::write_file(&target, text.as_bytes()).map_err(write_failed)?;
    std::fs::set_permissions(&target, permissions).map_err(write_failed)?;
    Ok(Upgraded::From(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_goes_before_the_first_key_and_comments_stay() {
        let text = "# my field case\n\nname = \"x\" # inline\n[hierarchy]\n";
        assert_eq!(
            upgraded_text(text, None),
            format!("# my field case\n\nformat = {FORMAT}\nname = \"x\" # inline\n[hierarchy]\n")
        );
    }

    #[test]
    fn an_explicit_old_format_is_rewritten_in_place() {
        let text = "format = 1\nname = \"x\"\n";
        assert_eq!(
            upgraded_text(text, Some(9..10)),
            format!("format = {FORMAT}\nname = \"x\"\n")
        );
    }

    #[test]
    fn a_byte_order_mark_stays_first_and_line_endings_stay_the_file_s() {
        let text = "\u{feff}name = \"x\"\r\n";
        assert_eq!(
            upgraded_text(text, None),
            format!("\u{feff}format = {FORMAT}\r\nname = \"x\"\r\n")
        );
    }
}
