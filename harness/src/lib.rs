//! A simulation and test harness for Configuration Manager's diagnostics and usage data pipeline.
//!
//! The flow, one module a step: a [`scenario`] describes a hierarchy; [`model`] and [`generate`]
//! turn it into synthetic site data, streamed into site databases behind the [`engine`] trait;
//! the [`probes`] (TEL queries, each with an oracle) run weekly in the [`pipeline`]'s stages,
//! which replicate to the CAS, submit to the mock upstream ([`mock`]) and verify what arrived;
//! [`report`] tells, with [`finding`]s. A run keeps its record ([`manifest`]), from which
//! [`check`] verifies it again later. `ARCHITECTURE.md` at the repository's root has the map.

pub mod bench;
pub mod check;
pub mod compare;
pub mod engine;
pub mod finding;
pub mod fleet;
pub mod from_export;
pub mod generate;
pub mod hash;
pub mod layout;
pub mod load;
pub mod manifest;
pub mod mock;
pub mod model;
pub mod payload;
pub mod pipeline;
pub mod planted;
pub mod probes;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod sct;
pub mod swarm;
pub mod timeline;
pub mod view;
