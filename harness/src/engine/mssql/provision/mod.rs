//! Where SQL Server instances come from:
//! - `docker`: containers of `mcr.microsoft.com/mssql/server` started through `testcontainers`,
//!   several site databases per container (so a 26-site hierarchy fits one machine), removed when
//!   the run ends and, through testcontainers' watchdog, on Ctrl-C;
//! - [`ExternalServers`]: servers the user already runs, by ADO.NET connection string: one for
//!   every site or one per site, from the scenario or the environment.
//!
//! The settings here are plain data and compile without the `mssql` feature; starting containers
//! needs it.

#[cfg(feature = "mssql")]
mod docker;

use std::collections::BTreeMap;

#[cfg(feature = "mssql")]
pub use docker::DockerServers;

use super::super::EngineError;

/// The environment variable naming a SQL Server for every site.
pub const MSSQL_URL_ENV: &str = "HARNESS_MSSQL_URL";
/// The image tag the docker provisioner starts unless told otherwise.
pub const DEFAULT_IMAGE_TAG: &str = "2022-latest";

pub enum Provisioner {
    #[cfg(feature = "mssql")]
    Docker(DockerServers),
    External(ExternalServers),
}

impl Provisioner {
    /// The provisioner a scenario's run asks for.
    #[cfg(feature = "mssql")]
    pub fn for_run(
        kind: crate::scenario::EngineKind,
        run: &crate::scenario::RunSpec,
    ) -> Result<Self, EngineError> {
        use crate::scenario::EngineKind;
        match kind {
            EngineKind::Docker => Ok(Provisioner::Docker(DockerServers::new(
                run.image_tag.as_deref().unwrap_or(DEFAULT_IMAGE_TAG),
                run.sites_per_container,
            )?)),
            EngineKind::External => Ok(Provisioner::External(
                ExternalServers::from_scenario_and_env(
                    run.external.url.clone(),
                    run.external.sites.clone(),
                ),
            )),
            EngineKind::Embedded => Err(EngineError::Unavailable(
                "the embedded engine has no SQL Server to provision".into(),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "mssql")]
            Provisioner::Docker(_) => "docker",
            Provisioner::External(_) => "external",
        }
    }

    /// The connection string of the server that hosts `site`'s database.
    pub async fn server_for(&self, site: &str) -> Result<String, EngineError> {
        match self {
            #[cfg(feature = "mssql")]
            Provisioner::Docker(d) => d.server_for(site).await,
            Provisioner::External(e) => e.server_for(site),
        }
    }
}

/// Connection strings of servers the user runs.
#[derive(Debug, Clone, Default)]
pub struct ExternalServers {
    /// For every site without its own.
    pub default: Option<String>,
    /// By site code.
    pub sites: BTreeMap<String, String>,
}

impl ExternalServers {
    /// The scenario's strings, completed by the environment: `HARNESS_MSSQL_URL` for every site,
    /// `HARNESS_MSSQL_URL_<CODE>` for one site.
    pub fn from_scenario_and_env(default: Option<String>, sites: BTreeMap<String, String>) -> Self {
        let mut servers = ExternalServers {
            default: default.or_else(|| std::env::var(MSSQL_URL_ENV).ok()),
            sites,
        };
        for (key, value) in std::env::vars() {
            if let Some(code) = key.strip_prefix(&format!("{MSSQL_URL_ENV}_")) {
                servers
                    .sites
                    .entry(code.to_ascii_uppercase())
                    .or_insert(value);
            }
        }
        servers
    }

    fn server_for(&self, site: &str) -> Result<String, EngineError> {
        self.sites
            .get(&site.to_ascii_uppercase())
            .or(self.default.as_ref())
            .cloned()
            .ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "no SQL Server for site {site}: set {MSSQL_URL_ENV} (an ADO.NET connection string such as \
                     \"server=tcp:127.0.0.1,1433;user=sa;password=...;TrustServerCertificate=true\"), \
                     {MSSQL_URL_ENV}_{site}, or [run.external] in the scenario"
                ))
            })
    }
}

/// True when a Docker engine could be there: an explicit `DOCKER_HOST` or the default socket.
pub fn docker_reachable() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_site_strings_win_over_the_default() {
        let servers = ExternalServers {
            default: Some("server=tcp:a,1433".into()),
            sites: BTreeMap::from([("P02".to_string(), "server=tcp:b,1433".to_string())]),
        };
        assert_eq!(servers.server_for("p02").unwrap(), "server=tcp:b,1433");
        assert_eq!(servers.server_for("P01").unwrap(), "server=tcp:a,1433");
        let none = ExternalServers::default();
        let err = none.server_for("P01").unwrap_err().to_string();
        assert!(err.contains(MSSQL_URL_ENV), "{err}");
    }
}
