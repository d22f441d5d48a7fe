//! The SQL Server engine: site databases on real SQL Server instances, reached over TDS with
//! `tiberius`. The schema and the probes are T-SQL (`harness/sql/mssql/`): every probe is a
//! `TEL_*` stored procedure writing into `TEL_TelemetryResults`, driven by `TEL_RunWeekly`, as in
//! the product. Rows are loaded with TDS bulk inserts.
//!
//! - `script`: the T-SQL installed into every site database and how it is cut into batches;
//! - [`provision`]: where the servers come from (containers started through Docker, or servers
//!   the user already runs);
//! - `connection`: connecting to a server by connection string;
//! - `engine`: the [`Engine`](super::Engine), which makes a database per site;
//! - `site`: the [`SiteDatabase`](super::SiteDatabase) of one site, which hands each call to
//!   `install`, `load` (over `bulk`), `weekly`, `results`, `delivery` or `records`;
//! - `transaction`: explicit transactions, ended so that the first error is the one reported;
//! - `values`: typed values out of result rows.
//!
//! Only `script` and `provision`'s settings are compiled without the `mssql` feature.

pub mod provision;
mod script;

pub use script::{
    HASH, PROBE_TEMPLATE, SCHEMA, WEEKLY, batches, probe_procedure, quote_identifier,
};

#[cfg(feature = "mssql")]
mod bulk;
#[cfg(feature = "mssql")]
mod connection;
#[cfg(feature = "mssql")]
mod delivery;
#[cfg(feature = "mssql")]
mod engine;
#[cfg(feature = "mssql")]
mod install;
#[cfg(feature = "mssql")]
mod load;
#[cfg(feature = "mssql")]
mod records;
#[cfg(feature = "mssql")]
mod results;
#[cfg(feature = "mssql")]
mod site;
#[cfg(feature = "mssql")]
mod transaction;
#[cfg(feature = "mssql")]
mod values;
#[cfg(feature = "mssql")]
mod weekly;

#[cfg(feature = "mssql")]
pub use connection::{Connection, connect};
#[cfg(feature = "mssql")]
pub use engine::MssqlEngine;
#[cfg(feature = "mssql")]
pub use site::MssqlSite;
#[cfg(feature = "mssql")]
pub use values::ValueError;
