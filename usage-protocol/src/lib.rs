//! The wire contract between a service connection point and the cloud service, shared by both
//! sides: the harness (the client) and the mock upstream (the server) depend on this crate and
//! never on each other's insides.
//!
//! - [`payload`]: the usage payload, its schema version and validation;
//! - [`receipt`]: what the service answers for a stored upload;
//! - [`fault`]: the fault programs the admin API takes;
//! - [`update_pack`]: the update packs the service offers;
//! - [`usage_cab`]: the service connection tool's cabinet layout;
//! - [`connect`]: the service connection tool's `-connect` answer;
//! - [`client`]: a typed client of the service's API, with the retry policy of an online SCP;
//! - [`durable`]: writing a file atomically and durably, for either side's state on disk;
//! - [`dir_lock`]: one process at a time in a folder of durable state.

pub mod bounded_file;
pub mod client;
pub mod connect;
pub mod dir_lock;
pub mod durable;
pub mod fault;
pub mod payload;
pub mod receipt;
pub mod update_pack;
pub mod usage_cab;

pub use receipt::{Receipt, sha256_hex};
