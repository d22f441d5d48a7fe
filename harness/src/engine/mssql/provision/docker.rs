//! SQL Server containers started through Docker with `testcontainers`.

use std::time::Duration;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::mssql_server::MssqlServer;
use tokio::sync::Mutex;

use super::super::super::EngineError;
use super::{MSSQL_URL_ENV, STARTUP_TIMEOUT_ENV, docker_reachable};

/// SQL Server containers, filled `sites_per_container` site databases at a time.
pub struct DockerServers {
    image_tag: String,
    sites_per_container: usize,
    startup_timeout: Duration,
    containers: Mutex<Vec<(ContainerAsync<MssqlServer>, usize)>>,
}

impl DockerServers {
    pub fn new(
        image_tag: impl Into<String>,
        sites_per_container: usize,
        startup_timeout: Duration,
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
            startup_timeout,
            containers: Mutex::new(Vec::new()),
        })
    }

    pub(super) async fn server_for(&self, _site: &str) -> Result<String, EngineError> {
        let mut containers = self.containers.lock().await;
        let needs_new = containers
            .last()
            .is_none_or(|(_, sites)| *sites >= self.sites_per_container);
        if needs_new {
            let container = MssqlServer::default()
                .with_accept_eula()
                .with_tag(self.image_tag.clone())
                .with_startup_timeout(self.startup_timeout)
                .start()
                .await
                .map_err(|e| {
                    EngineError::Unavailable(format!(
                        "cannot start mcr.microsoft.com/mssql/server:{} through Docker and have it \
                         ready within {} s ({STARTUP_TIMEOUT_ENV} sets the limit): {e}",
                        self.image_tag,
                        self.startup_timeout.as_secs()
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
