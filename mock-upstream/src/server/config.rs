//! How to run a server.

use std::net::SocketAddr;
use std::path::PathBuf;

const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;
const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// Largest request body accepted, compressed (413 past it).
    pub max_body_bytes: usize,
    /// Largest decompressed payload accepted (413 past it), so a gzip bomb is refused.
    pub max_decompressed_bytes: usize,
}

impl Config {
    /// A loopback server on a free port with a random admin token and the default limits.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            admin_token: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}
