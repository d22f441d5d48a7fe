//! The site's own records: its identity, telemetry settings and run history, and the update packs
//! imported into it.

use tiberius::Row;

use super::super::{EngineError, ImportedPack, RunRecord, SiteInfo};
use super::site::MssqlSite;
use super::values::{ValueError, optional_text, text, unsigned};
use crate::scenario::Level;

fn run_record(row: &Row) -> Result<RunRecord, ValueError> {
    Ok(RunRecord {
        week: unsigned(row, 0)?,
        started_on: text(row, 1)?,
        level: text(row, 2)?,
    })
}

fn imported_pack(row: &Row) -> Result<ImportedPack, ValueError> {
    Ok(ImportedPack {
        id: text(row, 0)?,
        name: text(row, 1)?,
        version: text(row, 2)?,
        sha256: text(row, 3)?,
    })
}

impl MssqlSite {
    pub(super) async fn write_level(&self, level: Level) -> Result<(), EngineError> {
        self.execute(
            "UPDATE dbo.TEL_Settings SET Level = @P1",
            &[&level.as_str()],
            "set level",
        )
        .await
        .map(drop)
    }

    pub(super) async fn read_site_info(&self) -> Result<SiteInfo, EngineError> {
        let site = self
            .query(
                "SELECT SiteCode, Version, InstallDate, ParentSiteCode FROM dbo.Sites",
                &[],
                "read site",
            )
            .await?;
        let settings = self
            .query(
                "SELECT HierarchyID, Level, Mode FROM dbo.TEL_Settings",
                &[],
                "read settings",
            )
            .await?;
        let runs = self
            .query(
                "SELECT Week, StartedOn, Level FROM dbo.TEL_RunHistory ORDER BY Week",
                &[],
                "read runs",
            )
            .await?;
        let (Some(site), Some(settings)) = (site.first(), settings.first()) else {
            return Err(EngineError::site(
                &self.code,
                "read site",
                "not a site database: Sites or TEL_Settings is empty",
            ));
        };
        let read = || -> Result<SiteInfo, ValueError> {
            Ok(SiteInfo {
                code: text(site, 0)?,
                hierarchy_id: text(settings, 0)?,
                level: text(settings, 1)?,
                mode: text(settings, 2)?,
                version: text(site, 1)?,
                installed: text(site, 2)?,
                parent: optional_text(site, 3)?,
                runs: runs.iter().map(run_record).collect::<Result<_, _>>()?,
            })
        };
        read().map_err(self.fail("read site"))
    }

    pub(super) async fn store_update_packs(
        &self,
        packs: &[ImportedPack],
    ) -> Result<(), EngineError> {
        for p in packs {
            self.execute(
                "IF NOT EXISTS (SELECT 1 FROM dbo.UpdatePacks WHERE PackID = @P1)
                   INSERT INTO dbo.UpdatePacks (PackID, Name, Version, SHA256) VALUES (@P1, @P2, @P3, @P4)",
                &[&p.id, &p.name, &p.version, &p.sha256],
                "import update packs",
            )
            .await?;
        }
        Ok(())
    }

    pub(super) async fn read_update_packs(&self) -> Result<Vec<ImportedPack>, EngineError> {
        self.query(
            "SELECT PackID, Name, Version, SHA256 FROM dbo.UpdatePacks ORDER BY PackID",
            &[],
            "read update packs",
        )
        .await?
        .iter()
        .map(imported_pack)
        .collect::<Result<_, _>>()
        .map_err(self.fail("read update packs"))
    }
}
