//! `mock-upstream serve`: the mock cloud service as a standalone process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Mock of the Configuration Manager diagnostics and usage data service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until SIGINT or SIGTERM. The first line of stdout is `listening on http://ADDR`.
    Serve(ServeArgs),
}

/// How to run the service; shared with `harness upstream`.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to bind; loopback unless you say otherwise. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where acknowledged uploads and issued tokens are kept; they survive restarts.
    #[arg(long)]
    data_dir: PathBuf,
    /// Bearer token of the admin API.
    #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
    admin_token: String,
    /// Largest request body accepted, in bytes (413 past it).
    #[arg(long, default_value_t = 8 << 20)]
    max_body_bytes: usize,
    /// Largest decompressed payload accepted, in bytes (413 past it).
    #[arg(long, default_value_t = 64 << 20)]
    max_decompressed_bytes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Command::Serve(args) = Cli::parse().command;
    let mut config = mock_upstream::Config::new(args.data_dir);
    config.listen = args.listen;
    config.admin_token = args.admin_token;
    config.max_body_bytes = args.max_body_bytes;
    config.max_decompressed_bytes = args.max_decompressed_bytes;
    mock_upstream::serve_until_signal(config)
        .await
        .context("mock upstream")
}
