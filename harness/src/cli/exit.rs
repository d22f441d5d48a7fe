//! The process's exit codes, in one place, in the manner of cargo-nextest's: CI systems read them.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every scenario met its expectations; the command did what was asked.
    Success,
    /// 1: a check failed — a finding the scenario did not expect, a missing expected finding,
    /// a budget exceeded, a failed upload under load.
    ChecksFailed,
    /// 2: the scenario or the command line is invalid, or an engine (or anything else the
    /// command needs) could not be reached.
    Invalid,
    /// 130 (the shell's code for SIGINT): a swarm stopped by Ctrl-C before its seeds or its
    /// time ran out, having found nothing; CI can tell a campaign cut short from a whole one.
    Interrupted,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::ChecksFailed => 1,
            Exit::Invalid => 2,
            Exit::Interrupted => 130,
        }
    }

    /// An error that stops a command: said on stderr with its chain of causes; exit 2.
    pub fn from_error(error: &anyhow::Error) -> Self {
        eprintln!("error: {error:#}");
        Exit::Invalid
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The result of a command: an [`Exit`], or an error that means exit 2.
pub type Outcome = anyhow::Result<Exit>;

pub fn finish(outcome: Outcome) -> Exit {
    outcome.unwrap_or_else(|e| Exit::from_error(&e))
}

/// The async runtime commands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}
