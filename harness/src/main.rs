//! `harness`: the command line. Each command lives in its own module of [`cli`]; every command
//! ends in one [`cli::Exit`], which is the process's exit code.

mod cli;

use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    // First, before anything opens a database: SQLite takes these settings only then.
    harness::engine::sqlite::configure_process();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or a CI log.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    cli::parse().command.execute().into()
}
