//! A site database made from scratch: the database itself, the schema and procedures, and the
//! site's own configuration rows.

use super::super::EngineError;
use super::connection::connect;
use super::script::{HASH, SCHEMA, WEEKLY, probe_procedure, quote_identifier};
use super::site::MssqlSite;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes;

/// Drops `database` on `server` if a former run left it there, and creates it empty.
pub(super) async fn create_database(
    server: &str,
    database: &str,
    site: &str,
) -> Result<(), EngineError> {
    let mut master = connect(server, None).await?;
    let fail = |e| EngineError::site(site, "create database", e);
    let quoted = quote_identifier(database);
    master
        .simple_query(format!(
            "IF DB_ID(N'{0}') IS NOT NULL BEGIN ALTER DATABASE {1} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {1}; END; CREATE DATABASE {1};",
            database.replace('\'', "''"),
            quoted
        ))
        .await
        .map_err(fail)?
        .into_results()
        .await
        .map_err(fail)?;
    Ok(())
}

impl MssqlSite {
    /// The tables, the hash, `TEL_RunWeekly`, and the procedure of every probe of `catalog`.
    pub(super) async fn install_schema(
        &self,
        catalog: &probes::Catalog,
    ) -> Result<(), EngineError> {
        let mut conn = self.conn.lock().await;
        self.run_script(&mut conn, SCHEMA, "install schema").await?;
        self.run_script(&mut conn, HASH, "install fnTelHash")
            .await?;
        self.run_script(&mut conn, WEEKLY, "install TEL_RunWeekly")
            .await?;
        for probe in catalog.iter() {
            self.run_script(
                &mut conn,
                &probe_procedure(probe),
                "install probe procedure",
            )
            .await?;
        }
        Ok(())
    }

    /// The site's row in `Sites` and the hierarchy's telemetry settings.
    pub(super) async fn install_site(
        &self,
        hierarchy: &HierarchyModel,
        site: &SiteModel,
        probes: &probes::Catalog,
    ) -> Result<(), EngineError> {
        let installed = hierarchy.installed.to_string();
        self.execute(
            "INSERT INTO dbo.Sites (SiteCode, SiteName, SiteType, ParentSiteCode, Version, Status, TimeZone, InstallDate)
             VALUES (@P1, @P2, @P3, @P4, @P5, 'Active', @P6, @P7)",
            &[&site.code, &site.name, &site.role.as_str(), &site.parent, &site.version, &site.time_zone, &installed],
            "install site",
        )
        .await?;
        let id = hierarchy.id.to_string();
        self.execute(
            "INSERT INTO dbo.TEL_Settings (HierarchyID, Level, Mode) VALUES (@P1, @P2, @P3)",
            &[&id, &hierarchy.level.as_str(), &hierarchy.mode.as_str()],
            "install settings",
        )
        .await?;
        for probe in probes.iter() {
            self.execute(
                "INSERT INTO dbo.TEL_ProbeCatalog (ProbeName, LevelRank) VALUES (@P1, @P2)",
                &[&probe.name, &probe.level.rank()],
                "install the probe catalog",
            )
            .await?;
        }
        Ok(())
    }
}
