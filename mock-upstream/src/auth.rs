//! Who may call: one bearer token per hierarchy for the client endpoints, and an admin token for
//! the admin API. Tokens are kept on disk so a restarted service still knows its callers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
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
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AuthError::Parse {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(source) => {
                return Err(AuthError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
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
        let tmp = self.path.with_extension("tmp");
        let io = |action, source| AuthError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        std::fs::write(&tmp, bytes).map_err(|e| io("write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("rename", e))?;
        Ok(token)
    }

    pub fn clear(&self) -> Result<(), AuthError> {
        let mut state = self.state.lock().expect("token state poisoned");
        state.tokens.clear();
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(AuthError::Io {
                action: "remove",
                path: self.path.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
