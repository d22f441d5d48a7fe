//! Writing a file so that a crash never leaves it half written.
//!
//! A plain `write` can be cut short by a crash or a kill, and leaves a truncated file under the
//! final name: a reader after a restart then sees data that was never complete. [`write_file`]
//! writes to a temporary file in the same directory, fsyncs it, renames it over the final name
//! and fsyncs the directory. The rename is atomic within a file system, so the final name holds
//! either the old content or the whole new one; the directory fsync makes the rename itself
//! survive a power loss. Once it returns `Ok`, the file is on disk and may be acknowledged.
//!
//! A crash before the rename can leave the temporary file behind. It is named `.tmp` followed by
//! random characters (see [`is_leftover`]) and was never acknowledged, so it can be deleted.

use std::io::Write;
use std::path::Path;

/// Replaces the file at `path` with `bytes` atomically and durably. The directory must exist.
/// Errors name the path and the step that failed.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let failed = |action: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{action} {}: {e}", path.display()))
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| failed("cannot create a temporary file for", e))?;
    tmp.write_all(bytes)
        .map_err(|e| failed("cannot write", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| failed("cannot fsync", e))?;
    tmp.persist(path)
        .map_err(|e| failed("cannot rename into", e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed("cannot fsync the directory of", e))
}

/// An error unless `path` is a regular file or does not exist: a link (to `/dev/zero`, say), a
/// pipe or a device in a folder of durable state is damage or an attack, and reading it could
/// block or never end. The link itself is looked at, not what it points to.
pub fn refuse_unless_regular(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a regular file (a link, a pipe or a device): refusing to read it",
                path.display()
            ),
        )),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// True for the name of a temporary file that [`write_file`] left behind when it was stopped
/// before its rename.
pub fn is_leftover(file_name: &str) -> bool {
    file_name.starts_with(".tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_file(&path, b"first version, rather long").unwrap();
        write_file(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.json"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("state.json");
        let error = write_file(&path, b"x").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        assert!(error.to_string().contains("state.json"), "{error}");
    }

    #[test]
    fn temporary_files_are_recognised_as_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        let name = tmp.path().file_name().unwrap().to_str().unwrap();
        assert!(is_leftover(name), "{name}");
        assert!(!is_leftover("0b9f.receipt.json"));
    }
}
