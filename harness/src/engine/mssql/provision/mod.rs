//! Where SQL Server instances come from:
//! - `docker`: containers of `mcr.microsoft.com/mssql/server` started through `testcontainers`,
//!   several site databases per container (so a 26-site hierarchy fits one machine), removed when
//!   the run ends and, through testcontainers' watchdog, on Ctrl-C;
//! - [`ExternalServers`]: servers the user already runs, by ADO.NET connection string: one for
//!   every site or one per site, from the scenario or the environment.
//!
//! Containers start from a pinned image tag ([`DEFAULT_IMAGE_TAG`], or the scenario's
//! `[run] image_tag`) and must be ready within [`DEFAULT_STARTUP_TIMEOUT`] (or
//! `HARNESS_MSSQL_STARTUP_TIMEOUT` seconds).
//!
//! The settings here are plain data and compile without the `mssql` feature; starting containers
//! needs it.

#[cfg(feature = "mssql")]
mod docker;

use std::collections::BTreeMap;
use std::time::Duration;

#[cfg(feature = "mssql")]
pub use docker::DockerServers;

use super::super::EngineError;

/// The environment variable naming a SQL Server for every site.
pub const MSSQL_URL_ENV: &str = "HARNESS_MSSQL_URL";
/// The `mcr.microsoft.com/mssql/server` tag the docker provisioner starts unless the scenario
/// says otherwise (`[run] image_tag`): a fixed SQL Server 2022 cumulative update, so that a run
/// today and a run next year meet the same server. It is the tag testcontainers' SQL Server
/// module is tested with.
pub const DEFAULT_IMAGE_TAG: &str = "2022-CU14-ubuntu-22.04";
/// The environment variable that sets how long a SQL Server container may take to start, in
/// seconds.
pub const STARTUP_TIMEOUT_ENV: &str = "HARNESS_MSSQL_STARTUP_TIMEOUT";
/// How long a SQL Server container may take from its start until SQL Server accepts connections
/// (its recovery complete), unless [`STARTUP_TIMEOUT_ENV`] says otherwise. SQL Server needs some
/// 10 to 60 seconds on a quiet machine; a loaded one, or several containers starting together,
/// can take minutes. Pulling the image the first time comes before and is not counted.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// The container start-up timeout [`STARTUP_TIMEOUT_ENV`] sets (a whole number of seconds above
/// zero), or the default when it is not set.
pub fn startup_timeout(setting: Option<&str>) -> Result<Duration, EngineError> {
    let Some(setting) = setting else {
        return Ok(DEFAULT_STARTUP_TIMEOUT);
    };
    match setting.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(EngineError::Unavailable(format!(
            "{STARTUP_TIMEOUT_ENV}={setting}: expected a whole number of seconds above 0"
        ))),
    }
}

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
            EngineKind::Docker => {
                let setting = std::env::var(STARTUP_TIMEOUT_ENV).ok();
                Ok(Provisioner::Docker(DockerServers::new(
                    run.image_tag.as_deref().unwrap_or(DEFAULT_IMAGE_TAG),
                    run.sites_per_container,
                    startup_timeout(setting.as_deref())?,
                )?))
            }
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

    #[test]
    fn the_startup_timeout_is_generous_unless_set() {
        assert_eq!(startup_timeout(None).unwrap(), Duration::from_secs(180));
        assert_eq!(
            startup_timeout(Some("600")).unwrap(),
            Duration::from_secs(600)
        );
        for wrong in ["0", "-5", "3 min", ""] {
            let err = startup_timeout(Some(wrong)).unwrap_err().to_string();
            assert!(err.contains(STARTUP_TIMEOUT_ENV), "{err}");
        }
    }

    #[test]
    fn the_default_image_is_a_pinned_sql_server_2022_update() {
        assert!(
            DEFAULT_IMAGE_TAG.starts_with("2022-CU"),
            "{DEFAULT_IMAGE_TAG}"
        );
        assert!(!DEFAULT_IMAGE_TAG.contains("latest"));
        // A scenario without `image_tag` gets this pinned default.
        assert_eq!(crate::scenario::RunSpec::default().image_tag, None);
    }
}
