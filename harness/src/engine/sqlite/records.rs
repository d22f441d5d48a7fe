//! The site's own records: its identity, telemetry settings and run history, and the update packs
//! imported into it.

use rusqlite::{Connection, params};

use super::super::{ImportedPack, RunRecord, SiteInfo};

pub(super) fn site_info(conn: &Connection) -> rusqlite::Result<SiteInfo> {
    let (code, version, installed, parent): (String, String, String, Option<String>) = conn
        .query_row(
            "SELECT SiteCode, Version, InstallDate, ParentSiteCode FROM Sites",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let (hierarchy_id, level, mode): (String, String, String) = conn.query_row(
        "SELECT HierarchyID, Level, Mode FROM TEL_Settings",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut stmt =
        conn.prepare("SELECT Week, StartedOn, Level FROM TEL_RunHistory ORDER BY Week")?;
    let runs = stmt
        .query_map([], |r| {
            Ok(RunRecord {
                week: r.get(0)?,
                started_on: r.get(1)?,
                level: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(SiteInfo {
        code,
        hierarchy_id,
        level,
        mode,
        version,
        installed,
        parent,
        runs,
    })
}

/// Records `packs`; a pack imported before is left as it is.
pub(super) fn import_update_packs(
    conn: &mut Connection,
    packs: &[ImportedPack],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO UpdatePacks VALUES (?1, ?2, ?3, ?4)")?;
        for p in packs {
            insert.execute(params![p.id, p.name, p.version, p.sha256])?;
        }
    }
    tx.commit()
}

pub(super) fn update_packs(conn: &Connection) -> rusqlite::Result<Vec<ImportedPack>> {
    let mut stmt =
        conn.prepare("SELECT PackID, Name, Version, SHA256 FROM UpdatePacks ORDER BY PackID")?;
    stmt.query_map([], |r| {
        Ok(ImportedPack {
            id: r.get(0)?,
            name: r.get(1)?,
            version: r.get(2)?,
            sha256: r.get(3)?,
        })
    })?
    .collect()
}
