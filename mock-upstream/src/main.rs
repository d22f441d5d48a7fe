//! `mock-upstream serve`: the mock cloud service as a standalone process.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mock_upstream::ServeArgs;

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
        #[command(flatten)]
        args: ServeArgs,
    },
}

/// Exit 2 when the service cannot start (the address, the data folder, its lock), as the
/// harness's commands do; 0 after a clean stop.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Command::Serve { args } = Cli::parse().command;
    match mock_upstream::serve_until_signal(args.into_config())
        .await
        .context("mock upstream")
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
