//! An exclusive lock on a folder of durable state, held while a process uses it: two mock
//! upstreams on one data directory, or two runs into one output folder, would overwrite each
//! other's files. The lock is the operating system's (`flock`, through `std::fs::File::try_lock`),
//! so it is released when the holder exits, even on SIGKILL; the file beside it names the holder
//! for the error message of whoever comes second.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file's name inside the locked folder.
pub const LOCK_FILE: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is in use by another process ({holder}); wait for it to finish or use another folder", dir.display())]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for as long as it lives.
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Takes the folder's lock (creating the folder if needed), or says who holds it. `what`
    /// describes the holder (e.g. `mock-upstream serve`) for the next one's error message.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "holder unknown".into());
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "pid {}, {what}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "the first").unwrap();
        let err = DirLock::acquire(dir.path(), "the second").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}, the first", std::process::id())),
            "{message}"
        );
        drop(first);
        DirLock::acquire(dir.path(), "the second").unwrap();
    }
}
