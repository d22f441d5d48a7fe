//! How to run a server: [`Config`] for code, [`ServeArgs`] for a command line.

use std::net::SocketAddr;
use std::path::PathBuf;

const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;
/// Fits the largest upload a service connection point makes: the harness splits a backlog into
/// parts of at most 16 MiB of JSON (`harness::payload::MAX_PART_BYTES`).
const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 24 << 20;
/// Uploads inflated and parsed at once (the rest wait their turn): with the limits above, a
/// flood of hostile uploads costs at most about 2 × (8 + 24) MiB.
const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 2;

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
    /// Latency faults are not slept: the answer goes out at once and says, in the
    /// `simulated-latency-ms` header, how late it would have been. Scenario runs use it so that
    /// transport time advances a simulated clock.
    pub simulate_latency: bool,
    /// Uploads read, inflated and parsed at once; the others wait. Bounds peak memory.
    pub max_concurrent_uploads: usize,
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
            simulate_latency: false,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
        }
    }
}

/// The flags of `mock-upstream serve`, one for every [`Config`] field. A command that serves the
/// mock (such as `harness upstream`) flattens this struct, so the flags are the same everywhere.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to bind; loopback unless you say otherwise. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where acknowledged uploads and issued tokens are kept; they survive restarts.
    #[arg(long, default_value = "harness-upstream")]
    pub data_dir: PathBuf,
    /// Bearer token of the admin API.
    #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
    pub admin_token: String,
    /// Largest request body accepted, in bytes (413 past it).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest decompressed payload accepted, in bytes (413 past it).
    #[arg(long, default_value_t = DEFAULT_MAX_DECOMPRESSED_BYTES)]
    pub max_decompressed_bytes: usize,
    /// Answer latency faults at once with a `simulated-latency-ms` header instead of sleeping
    /// (for clients on a simulated clock).
    #[arg(long)]
    pub simulate_latency: bool,
    /// Uploads read, inflated and parsed at once (the rest wait): peak memory is about this
    /// many times (--max-body-bytes + --max-decompressed-bytes).
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_UPLOADS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_concurrent_uploads: usize,
}

impl ServeArgs {
    pub fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            admin_token: self.admin_token,
            max_body_bytes: self.max_body_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            simulate_latency: self.simulate_latency,
            max_concurrent_uploads: self.max_concurrent_uploads,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn every_flag_has_help() {
        Cli::command().debug_assert();
        for arg in Cli::command().get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
    }

    #[test]
    fn defaults_match_config_new() {
        let config = Cli::try_parse_from(["serve", "--data-dir", "d", "--admin-token", "t"])
            .unwrap()
            .serve
            .into_config();
        let new = Config::new("d");
        assert_eq!(config.listen, new.listen);
        assert_eq!(config.data_dir, new.data_dir);
        assert_eq!(config.admin_token, "t");
        assert_eq!(config.max_body_bytes, new.max_body_bytes);
        assert_eq!(config.max_decompressed_bytes, new.max_decompressed_bytes);
        assert_eq!(config.simulate_latency, new.simulate_latency);
        assert_eq!(config.max_concurrent_uploads, new.max_concurrent_uploads);
    }

    #[test]
    fn every_flag_reaches_the_config() {
        let config = Cli::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:4000",
            "--data-dir",
            "d",
            "--admin-token",
            "t",
            "--max-body-bytes",
            "10",
            "--max-decompressed-bytes",
            "20",
            "--simulate-latency",
            "--max-concurrent-uploads",
            "3",
        ])
        .unwrap()
        .serve
        .into_config();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 4000)));
        assert_eq!(config.data_dir, PathBuf::from("d"));
        assert_eq!(config.admin_token, "t");
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.max_decompressed_bytes, 20);
        assert!(config.simulate_latency);
        assert_eq!(config.max_concurrent_uploads, 3);
    }
}
