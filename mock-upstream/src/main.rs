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
    Serve {
        /// Address to bind; loopback unless you say otherwise. Port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where acknowledged uploads and issued tokens are kept.
        #[arg(long)]
        data_dir: PathBuf,
        /// Bearer token of the admin API.
        #[arg(long, env = "MOCK_UPSTREAM_ADMIN_TOKEN", default_value = "admin")]
        admin_token: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            data_dir,
            admin_token,
        } => {
            let mut config = mock_upstream::Config::new(data_dir);
            config.listen = listen;
            config.admin_token = admin_token;
            let server = mock_upstream::start(config)
                .await
                .context("starting the mock upstream")?;
            println!("listening on {}", server.base_url());
            wait_for_signal().await?;
            server.stop().await;
            Ok(())
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT"),
        _ = term.recv() => Ok(()),
    }
}
