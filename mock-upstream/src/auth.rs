//! Who may call: one bearer token per hierarchy for the client endpoints, and an admin token for
//! the admin API. Tokens are kept on disk so a restarted service still knows its callers.
//!
//! The token file grows by appending: one JSON line per registration, written and made durable
//! before the token is handed out. Rewriting the whole file on every registration (as
//! `tokens.json` was) costs the square of the hierarchies: 10,000 registrations would write
//! gigabytes. A last line without its newline is a write a crash cut short; it was never
//! answered, so it is cut on open. A file written by an older version (`tokens.json`) is still
//! read.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use usage_protocol::bounded_file::{self, BoundedReadError, Links};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A file operation failed; the message names the path (from `fs_err` or `durable`).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("token file {} is unreadable: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("token file {} line {line} is damaged: {source}", path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("token file {} line {line} is refused: {problem}", path.display())]
    Refused {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("token file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: BoundedReadError,
    },
}

/// Far more than any token file holds (a line is about 100 bytes: this is millions of
/// hierarchies); past it the file is not one.
const MAX_TOKEN_FILE_BYTES: u64 = 256 << 20;

/// The file an older version rewrote whole on every registration.
#[derive(Default, Deserialize)]
struct LegacyTokenFile {
    /// token → hashed hierarchy ID
    tokens: HashMap<String, String>,
}

/// One line of the token log.
#[derive(Serialize, Deserialize)]
struct Issued {
    token: String,
    hierarchy_id: String,
}

#[derive(Default)]
struct State {
    /// token → hashed hierarchy ID
    by_token: HashMap<String, String>,
    /// hashed hierarchy ID → token
    by_hierarchy: HashMap<String, String>,
}

impl State {
    fn insert(&mut self, token: String, hierarchy_id: String) {
        self.by_hierarchy
            .insert(hierarchy_id.clone(), token.clone());
        self.by_token.insert(token, hierarchy_id);
    }

    /// A token read from disk, taken only if it is one this service could have issued: not
    /// empty, not the admin token, not another hierarchy's, and not a second token for one
    /// hierarchy. The same line twice is harmless.
    fn admit(&mut self, token: String, hierarchy_id: String, admin: &str) -> Result<(), String> {
        if token.is_empty() || hierarchy_id.is_empty() {
            return Err("an empty token or hierarchy".into());
        }
        if constant_time_eq(token.as_bytes(), admin.as_bytes()) {
            return Err("the admin token, issued to a hierarchy".into());
        }
        if let Some(other) = self.by_token.get(&token).filter(|h| **h != hierarchy_id) {
            return Err(format!(
                "a token already issued to hierarchy {other}, issued again to {hierarchy_id}"
            ));
        }
        if self
            .by_hierarchy
            .get(&hierarchy_id)
            .is_some_and(|t| *t != token)
        {
            return Err(format!(
                "a second token for hierarchy {hierarchy_id} (a hierarchy is issued one)"
            ));
        }
        self.insert(token, hierarchy_id);
        Ok(())
    }
}

/// The bytes of a token file, or None when there is none: a regular file (a link to
/// `/dev/zero` was read until memory ran out, and a pipe hung the start) of a bounded size.
fn read_token_file(path: &Path) -> Result<Option<Vec<u8>>, AuthError> {
    match bounded_file::read(path, MAX_TOKEN_FILE_BYTES, Links::Refuse) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(BoundedReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuthError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub struct Tokens {
    log_path: PathBuf,
    legacy_path: PathBuf,
    admin: String,
    state: Mutex<(State, fs_err::File)>,
}

impl Tokens {
    pub fn open(data_dir: &Path, admin: String) -> Result<Self, AuthError> {
        let legacy_path = data_dir.join("tokens.json");
        let log_path = data_dir.join("tokens.log");
        let mut state = State::default();
        for (token, hierarchy) in read_legacy(&legacy_path)?.tokens {
            state
                .admit(token, hierarchy, &admin)
                .map_err(|problem| AuthError::Refused {
                    path: legacy_path.clone(),
                    line: 1,
                    problem,
                })?;
        }
        let whole = read_log(&log_path, &mut state, &admin)?;
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        if file.metadata()?.len() > whole {
            // The torn tail of a registration that was never answered.
            tracing::warn!(
                "{}: cutting {} bytes after the last whole line (a registration a crash cut short, never answered)",
                log_path.display(),
                file.metadata()?.len() - whole
            );
            file.file().set_len(whole)?;
            file.sync_all()?;
        }
        Ok(Self {
            log_path,
            legacy_path,
            admin,
            state: Mutex::new((state, file)),
        })
    }

    pub fn is_admin(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.admin.as_bytes()))
    }

    /// The hierarchy a client token belongs to.
    pub fn hierarchy_of(&self, token: Option<&str>) -> Option<String> {
        let state = self.state.lock().expect("token state poisoned");
        state.0.by_token.get(token?).cloned()
    }

    pub fn is_registered(&self, hierarchy_id: &str) -> bool {
        let state = self.state.lock().expect("token state poisoned");
        state.0.by_hierarchy.contains_key(hierarchy_id)
    }

    /// Issues (or returns the existing) token for a hierarchy; a new one is on disk, durably,
    /// before it is returned.
    pub fn register(&self, hierarchy_id: &str) -> Result<String, AuthError> {
        let mut guard = self.state.lock().expect("token state poisoned");
        let (state, file) = &mut *guard;
        if let Some(token) = state.by_hierarchy.get(hierarchy_id) {
            return Ok(token.clone());
        }
        let token = format!("hier-{}", uuid::Uuid::new_v4().simple());
        let mut line = serde_json::to_vec(&Issued {
            token: token.clone(),
            hierarchy_id: hierarchy_id.to_string(),
        })
        .expect("a token line serialises");
        line.push(b'\n');
        // One write of the whole line: a crash leaves it whole or torn, never interleaved.
        file.write_all(&line)?;
        file.sync_data()?;
        state.insert(token.clone(), hierarchy_id.to_string());
        Ok(token)
    }

    pub fn clear(&self) -> Result<(), AuthError> {
        let mut guard = self.state.lock().expect("token state poisoned");
        let (state, file) = &mut *guard;
        *state = State::default();
        file.file().set_len(0)?;
        file.sync_all()?;
        match fs_err::remove_file(&self.legacy_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Where the token log is (for tests and operators).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

fn read_legacy(path: &Path) -> Result<LegacyTokenFile, AuthError> {
    match read_token_file(path)? {
        // Written durably since it exists, but an older version wrote it in place: an empty
        // file is what a crash left of it then, and holds no token.
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
            tracing::warn!("{} is empty: no hierarchy tokens", path.display());
            Ok(LegacyTokenFile::default())
        }
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| AuthError::Parse {
            path: path.to_path_buf(),
            source,
        }),
        None => Ok(LegacyTokenFile::default()),
    }
}

/// Reads the token log into `state`; returns the length of its whole lines (what follows is a
/// torn last line). A whole line that does not parse is damage, and refuses to start: cutting
/// it would forget a token that was handed out.
fn read_log(path: &Path, state: &mut State, admin: &str) -> Result<u64, AuthError> {
    let Some(bytes) = read_token_file(path)? else {
        return Ok(0);
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    for (index, line) in bytes[..whole].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let issued: Issued = serde_json::from_slice(line).map_err(|source| AuthError::Damaged {
            path: path.to_path_buf(),
            line: index + 1,
            source,
        })?;
        state
            .admit(issued.token, issued.hierarchy_id, admin)
            .map_err(|problem| AuthError::Refused {
                path: path.to_path_buf(),
                line: index + 1,
                problem,
            })?;
    }
    Ok(whole as u64)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_a_reopen_and_a_torn_last_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        let a = tokens.register("h1").unwrap();
        let b = tokens.register("h2").unwrap();
        assert_eq!(tokens.register("h1").unwrap(), a, "the same token again");
        let log = tokens.log_path().to_path_buf();
        drop(tokens);
        let len = std::fs::metadata(&log).unwrap().len();
        // A registration cut short by a crash: never answered, so it may go.
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(br#"{"token":"hier-torn","hier"#).unwrap();
        drop(f);
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            len,
            "the torn line is cut"
        );
        assert_eq!(tokens.hierarchy_of(Some(&a)).as_deref(), Some("h1"));
        assert_eq!(tokens.hierarchy_of(Some(&b)).as_deref(), Some("h2"));
        assert!(tokens.hierarchy_of(Some("hier-torn")).is_none());
        let c = tokens.register("h3").unwrap();
        drop(tokens);
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        assert_eq!(tokens.hierarchy_of(Some(&c)).as_deref(), Some("h3"));
    }

    #[test]
    fn a_registration_appends_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        let mut sizes = Vec::new();
        for i in 0..50 {
            tokens.register(&format!("hierarchy-{i}")).unwrap();
            sizes.push(std::fs::metadata(tokens.log_path()).unwrap().len());
        }
        let steps: std::collections::BTreeSet<u64> =
            sizes.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps.iter().all(|s| *s < 100),
            "each registration adds one line, whatever came before: {steps:?}"
        );
    }

    #[test]
    fn damage_before_whole_lines_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        tokens.register("h1").unwrap();
        let log = tokens.log_path().to_path_buf();
        drop(tokens);
        let mut text = std::fs::read(&log).unwrap();
        text.splice(0..0, b"garbage\n".iter().copied());
        std::fs::write(&log, text).unwrap();
        let err = Tokens::open(dir.path(), "admin".into()).err().unwrap();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn a_legacy_token_file_is_still_read_and_clear_forgets_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokens.json"),
            br#"{"tokens":{"hier-old":"h-old"}}"#,
        )
        .unwrap();
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        assert_eq!(
            tokens.hierarchy_of(Some("hier-old")).as_deref(),
            Some("h-old")
        );
        assert!(tokens.is_registered("h-old"));
        tokens.register("h-new").unwrap();
        tokens.clear().unwrap();
        assert!(!tokens.is_registered("h-old") && !tokens.is_registered("h-new"));
        drop(tokens);
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        assert!(!tokens.is_registered("h-old") && !tokens.is_registered("h-new"));
    }

    /// Found by an attack: lines that parse were trusted whatever they said: the admin token as
    /// a hierarchy's, one token for two hierarchies, an empty token, a second token for a
    /// hierarchy (the last one won). Each refuses to start, naming the line.
    #[test]
    fn token_lines_a_service_could_not_have_written_refuse_to_start() {
        for (lines, problem) in [
            (
                r#"{"token":"admin","hierarchy_id":"B"}"#.to_string(),
                "admin token",
            ),
            (
                r#"{"token":"t1","hierarchy_id":"A"}
{"token":"t1","hierarchy_id":"B"}"#
                    .to_string(),
                "already issued",
            ),
            (r#"{"token":"","hierarchy_id":"A"}"#.to_string(), "empty"),
            (
                r#"{"token":"t1","hierarchy_id":"A"}
{"token":"t2","hierarchy_id":"A"}"#
                    .to_string(),
                "second token",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("tokens.log"), format!("{lines}\n")).unwrap();
            let error = Tokens::open(dir.path(), "admin".into())
                .err()
                .expect("refused");
            assert!(error.to_string().contains(problem), "{error}");
            assert!(error.to_string().contains("line"), "{error}");
        }
        // The same line twice is harmless.
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"token":"t1","hierarchy_id":"A"}"#;
        std::fs::write(dir.path().join("tokens.log"), format!("{line}\n{line}\n")).unwrap();
        let tokens = Tokens::open(dir.path(), "admin".into()).unwrap();
        assert_eq!(tokens.hierarchy_of(Some("t1")).as_deref(), Some("A"));
    }

    /// Found by an attack: a token file linked to `/dev/zero` was read until memory ran out, and
    /// a pipe hung the start; neither could be stopped but by SIGKILL.
    #[test]
    fn a_token_file_that_is_not_a_regular_file_is_refused() {
        for name in ["tokens.log", "tokens.json"] {
            let dir = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink("/dev/zero", dir.path().join(name)).unwrap();
            let error = Tokens::open(dir.path(), "admin".into())
                .err()
                .expect("refused");
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("tokens.log"))
            .status()
            .unwrap();
        assert!(made.success());
        let error = Tokens::open(dir.path(), "admin".into())
            .err()
            .expect("refused");
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }
}
