//! Where SQL Server instances come from, one module's knowledge each way:
//! - `docker`: containers of `mcr.microsoft.com/mssql/server` started through `testcontainers`,
//!   several site databases per container (so a 26-site hierarchy fits one machine), removed when
//!   the run ends and, through testcontainers' watchdog, on Ctrl-C;
//! - `external`: servers the user already runs, by ADO.NET connection string: one for every site
//!   or one per site, from the scenario or the environment.

use std::collections::BTreeMap;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::mssql_server::MssqlServer;
use tokio::sync::Mutex;

use super::EngineError;

/// The environment variable naming a SQL Server for every site.
pub const MSSQL_URL_ENV: &str = "HARNESS_MSSQL_URL";
/// The image tag the docker provisioner starts unless told otherwise.
pub const DEFAULT_IMAGE_TAG: &str = "2022-latest";

pub enum Provisioner {
    Docker(DockerServers),
    External(ExternalServers),
}

impl Provisioner {
    pub fn name(&self) -> &'static str {
        match self {
            Provisioner::Docker(_) => "docker",
            Provisioner::External(_) => "external",
        }
    }

    /// The connection string of the server that hosts `site`'s database.
    pub async fn server_for(&self, site: &str) -> Result<String, EngineError> {
        match self {
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

/// SQL Server containers, filled `sites_per_container` site databases at a time.
pub struct DockerServers {
    image_tag: String,
    sites_per_container: usize,
    containers: Mutex<Vec<(ContainerAsync<MssqlServer>, usize)>>,
}

/// True when a Docker engine could be there: an explicit `DOCKER_HOST` or the default socket.
pub fn docker_reachable() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists()
}

impl DockerServers {
    pub fn new(
        image_tag: impl Into<String>,
        sites_per_container: usize,
    ) -> Result<Self, EngineError> {
        if !docker_reachable() {
            return Err(EngineError::Unavailable(format!(
                "the docker engine needs a Docker engine, and none is reachable (no DOCKER_HOST, no \
                 /var/run/docker.sock). Start Docker, or run against SQL Servers you have with \
                 --engine external and {MSSQL_URL_ENV}=\"server=tcp:HOST,1433;user=sa;password=...;TrustServerCertificate=true\""
            )));
        }
        Ok(Self {
            image_tag: image_tag.into(),
            sites_per_container: sites_per_container.max(1),
            containers: Mutex::new(Vec::new()),
        })
    }

    async fn server_for(&self, _site: &str) -> Result<String, EngineError> {
        let mut containers = self.containers.lock().await;
        let needs_new = containers
            .last()
            .is_none_or(|(_, sites)| *sites >= self.sites_per_container);
        if needs_new {
            let container = MssqlServer::default()
                .with_accept_eula()
                .with_tag(self.image_tag.clone())
                .start()
                .await
                .map_err(|e| {
                    EngineError::Unavailable(format!(
                        "cannot start mcr.microsoft.com/mssql/server:{} through Docker: {e}",
                        self.image_tag
                    ))
                })?;
            containers.push((container, 0));
        }
        let (container, sites) = containers.last_mut().expect("a container was just ensured");
        *sites += 1;
        let host = container
            .get_host()
            .await
            .map_err(|e| EngineError::Unavailable(format!("container host: {e}")))?;
        let port = container
            .get_host_port_ipv4(1433)
            .await
            .map_err(|e| EngineError::Unavailable(format!("container port: {e}")))?;
        Ok(format!(
            "server=tcp:{host},{port};user=sa;password={};TrustServerCertificate=true",
            MssqlServer::DEFAULT_SA_PASSWORD
        ))
    }
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
