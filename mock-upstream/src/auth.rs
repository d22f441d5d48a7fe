//! Who may call: one bearer token per hierarchy for the client endpoints, and an admin token for
//! the admin API. Tokens are kept on disk so a restarted service still knows its callers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

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
}

#[derive(Default, Serialize, Deserialize)]
struct TokenFile {
    /// token → hashed hierarchy ID
    tokens: HashMap<String, String>,
}

pub struct Tokens {
    path: PathBuf,
    admin: String,
    state: Mutex<TokenFile>,
}

impl Tokens {
    pub fn open(data_dir: &Path, admin: String) -> Result<Self, AuthError> {
        let path = data_dir.join("tokens.json");
        let state = match fs_err::read(&path) {
            // Written durably since it exists, but an older version wrote it in place: an empty
            // file is what a crash left of it then, and holds no token.
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                tracing::warn!("{} is empty: no hierarchy tokens", path.display());
                TokenFile::default()
            }
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AuthError::Parse {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path,
            admin,
            state: Mutex::new(state),
        })
    }

    pub fn is_admin(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.admin.as_bytes()))
    }

    /// The hierarchy a client token belongs to.
    pub fn hierarchy_of(&self, token: Option<&str>) -> Option<String> {
        let state = self.state.lock().expect("token state poisoned");
        state.tokens.get(token?).cloned()
    }

    pub fn is_registered(&self, hierarchy_id: &str) -> bool {
        let state = self.state.lock().expect("token state poisoned");
        state.tokens.values().any(|h| h == hierarchy_id)
    }

    /// Issues (or returns the existing) token for a hierarchy and persists it.
    pub fn register(&self, hierarchy_id: &str) -> Result<String, AuthError> {
        let mut state = self.state.lock().expect("token state poisoned");
        if let Some((token, _)) = state.tokens.iter().find(|(_, h)| *h == hierarchy_id) {
            return Ok(token.clone());
        }
        let token = format!("hier-{}", uuid::Uuid::new_v4().simple());
        state.tokens.insert(token.clone(), hierarchy_id.to_string());
        let bytes = serde_json::to_vec_pretty(&*state).expect("tokens serialise");
        usage_protocol::durable::write_file(&self.path, &bytes)?;
        Ok(token)
    }

    pub fn clear(&self) -> Result<(), AuthError> {
        let mut state = self.state.lock().expect("token state poisoned");
        state.tokens.clear();
        match fs_err::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
