//! The SQL Server [`Engine`]: a database per site, on the server the provisioner names.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::super::{Engine, EngineError, SiteDatabase};
use super::connection::{Connection, connect};
use super::install::create_database;
use super::provision::Provisioner;
use super::site::MssqlSite;
use super::values::text;
use crate::model::SiteModel;
use crate::probes::{Dialect, EngineInfo};

pub struct MssqlEngine {
    provisioner: Arc<Provisioner>,
    /// Site databases are named `<prefix><CODE>`.
    database_prefix: String,
    info: OnceLock<EngineInfo>,
}

impl MssqlEngine {
    pub fn new(provisioner: Arc<Provisioner>, database_prefix: impl Into<String>) -> Self {
        Self {
            provisioner,
            database_prefix: database_prefix.into(),
            info: OnceLock::new(),
        }
    }
}

/// The server's own version, edition and collation.
async fn server_info(conn: &mut Connection, site: &str) -> Result<EngineInfo, EngineError> {
    let fail = |e| EngineError::site(site, "read server properties", e);
    let row = conn
        .simple_query(
            "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)) AS ProductVersion,
                    CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128)) AS Edition,
                    CAST(SERVERPROPERTY('Collation') AS NVARCHAR(128)) AS Collation",
        )
        .await
        .map_err(fail)?
        .into_row()
        .await
        .map_err(fail)?
        .ok_or_else(|| {
            EngineError::site(site, "read server properties", "the server returned no row")
        })?;
    let value = |i| text(&row, i).map_err(|e| EngineError::site(site, "read server properties", e));
    Ok(EngineInfo {
        product: "SQL Server".into(),
        version: value(0)?,
        edition: value(1)?,
        collation: value(2)?,
    })
}

#[async_trait]
impl Engine for MssqlEngine {
    fn name(&self) -> &'static str {
        self.provisioner.name()
    }

    fn dialect(&self) -> Dialect {
        Dialect::MsSql
    }

    fn info(&self) -> EngineInfo {
        // Known once a site is open: the server reports its own version, edition and collation.
        self.info.get().cloned().unwrap_or(EngineInfo {
            product: "SQL Server".into(),
            version: String::new(),
            edition: String::new(),
            collation: String::new(),
        })
    }

    async fn open_site(&self, site: &SiteModel) -> Result<Arc<dyn SiteDatabase>, EngineError> {
        let server = self.provisioner.server_for(&site.code).await?;
        let database = format!("{}{}", self.database_prefix, site.code);
        create_database(&server, &database, &site.code).await?;
        let mut conn = connect(&server, Some(&database)).await?;
        if self.info.get().is_none() {
            let info = server_info(&mut conn, &site.code).await?;
            let _ = self.info.set(info);
        }
        Ok(Arc::new(MssqlSite::new(site.code.clone(), conn)))
    }
}
