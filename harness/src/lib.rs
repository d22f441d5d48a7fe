//! A simulation and test harness for Configuration Manager's diagnostics and usage data pipeline.
//!
//! The flow, one module a step: a [`scenario`] describes a hierarchy; [`model`] and [`generate`]
//! turn it into synthetic site data, streamed into site databases behind the [`engine`] trait;
//! the [`probes`] (TEL queries, each with an oracle) run weekly in the [`pipeline`], which
//! replicates to the CAS and submits to the mock upstream; [`check`] verifies what arrived and
//! [`report`] tells.

pub mod check;
pub mod engine;
pub mod generate;
pub mod hash;
pub mod load;
pub mod mock;
pub mod model;
pub mod pipeline;
pub mod probes;
pub mod report;
pub mod scenario;
pub mod sct;
pub mod view;
