//! A mock of the Configuration Manager cloud service that receives diagnostics and usage data.
//!
//! It runs in-process (what `harness run` uses) or as the `mock-upstream` binary. What it
//! acknowledged is on disk first ([`store`]); callers authenticate ([`auth`]); tests program
//! faults through its admin API ([`faults`]).

pub mod auth;
pub mod faults;
pub mod journal;
pub mod metrics;
pub mod server;
pub mod store;
pub mod update_packs;
pub mod upload_log;

pub use server::{Config, RunningServer, ServeArgs, serve_until_signal, start};
