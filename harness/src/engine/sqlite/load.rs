//! Generated rows into the site's tables, one batch per transaction (the caller's).

use rusqlite::{Statement, Transaction, params};

use crate::generate::Batch;
use crate::model::{
    AppDeployment, Application, BoundaryGroup, Client, Collection, Compliance, CustomTable,
    SoftwareUpdate, UpdateGroup,
};

pub(super) fn insert_batch(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    match batch {
        Batch::Clients(clients) => insert_clients(tx, clients),
        Batch::Applications(apps) => insert_applications(tx, apps),
        Batch::Collections(collections) => insert_collections(tx, collections),
        Batch::Updates(updates) => insert_updates(tx, updates),
        Batch::Compliance(states) => insert_compliance(tx, states),
        Batch::AppDeployments(deployments) => insert_app_deployments(tx, deployments),
        Batch::UpdateGroups(groups) => insert_update_groups(tx, groups),
        Batch::BoundaryGroups(groups) => insert_boundary_groups(tx, groups),
        Batch::CustomTable(table) => insert_custom_table(tx, table),
    }
}

fn insert_clients(tx: &Transaction<'_>, clients: &[Client]) -> rusqlite::Result<()> {
    insert_rows(tx, "System_DISC", 21, clients, |stmt, at, c| {
        stmt.raw_bind_parameter(at, c.item_key)?;
        stmt.raw_bind_parameter(at + 1, &c.netbios_name)?;
        stmt.raw_bind_parameter(at + 2, &c.user_name)?;
        stmt.raw_bind_parameter(at + 3, &c.ip_address)?;
        stmt.raw_bind_parameter(at + 4, &c.mac_address)?;
        stmt.raw_bind_parameter(at + 5, &c.email)?;
        stmt.raw_bind_parameter(at + 6, &c.client_version)?;
        stmt.raw_bind_parameter(at + 7, &c.os_caption)?;
        stmt.raw_bind_parameter(at + 8, c.os.version)?;
        stmt.raw_bind_parameter(at + 9, c.os.build)?;
        stmt.raw_bind_parameter(at + 10, c.ubr)?;
        stmt.raw_bind_parameter(at + 11, c.branch)?;
        stmt.raw_bind_parameter(at + 12, c.bios_date.to_string())?;
        stmt.raw_bind_parameter(at + 13, c.os_install_date.to_string())?;
        stmt.raw_bind_parameter(at + 14, c.uefi)?;
        stmt.raw_bind_parameter(at + 15, c.secure_boot)?;
        stmt.raw_bind_parameter(at + 16, c.tpm)?;
        stmt.raw_bind_parameter(at + 17, c.is_virtual)?;
        stmt.raw_bind_parameter(at + 18, &c.cpu)?;
        stmt.raw_bind_parameter(at + 19, c.last_active_days)?;
        stmt.raw_bind_parameter(at + 20, c.ep_state)
    })
}

/// Rows one INSERT statement carries. A statement step per row costs as much as the row itself
/// for narrow tables (binding, stepping and resetting a statement); a step of many rows pays it
/// once. Well under SQLite's limit of 32,766 parameters at `System_DISC`'s 21 columns.
const ROWS_PER_INSERT: usize = 64;

/// Inserts `rows` into `table` (of `columns` columns, all given) with multi-row statements;
/// `bind` binds one row's values from the 1-based parameter index it is given.
///
/// `OR FAIL`, not the default `OR ABORT`: a statement that may abort part-way inside a
/// transaction makes SQLite copy every page it touches into a statement journal first, so that
/// it can undo just that statement — a 16 KiB page for every 64 rows of 20 bytes. The load never
/// needs that undo: a failed insert fails the batch's whole transaction.
fn insert_rows<T>(
    tx: &Transaction<'_>,
    table: &str,
    columns: usize,
    rows: &[T],
    bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let sql = |n: usize| {
        let row = format!("({})", vec!["?"; columns].join(", "));
        format!(
            "INSERT OR FAIL INTO {table} VALUES {}",
            vec![row; n].join(", ")
        )
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut many = tx.prepare_cached(&sql(ROWS_PER_INSERT))?;
        for chunk in &mut chunks {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut many, i * columns + 1, row)?;
            }
            many.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut one = tx.prepare_cached(&sql(1))?;
        for row in rest {
            bind(&mut one, 1, row)?;
            one.raw_execute()?;
        }
    }
    Ok(())
}

fn insert_applications(tx: &Transaction<'_>, apps: &[Application]) -> rusqlite::Result<()> {
    let mut app_stmt = tx.prepare_cached("INSERT INTO CI_Applications VALUES (?1, ?2, ?3, ?4)")?;
    let mut dt_stmt =
        tx.prepare_cached("INSERT INTO CI_DeploymentTypes VALUES (?1, ?2, ?3, ?4)")?;
    for a in apps {
        app_stmt.execute(params![a.ci_id, a.title, a.manufacturer, a.superseded_by])?;
        for dt in &a.deployment_types {
            dt_stmt.execute(params![dt.ci_id, a.ci_id, dt.technology, dt.product_code])?;
        }
    }
    Ok(())
}

fn insert_collections(tx: &Transaction<'_>, collections: &[Collection]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("INSERT INTO Collections VALUES (?1, ?2, ?3, ?4)")?;
    for c in collections {
        stmt.execute(params![
            c.collection_id,
            c.name,
            c.collection_type,
            c.member_count
        ])?;
    }
    Ok(())
}

fn insert_updates(tx: &Transaction<'_>, updates: &[SoftwareUpdate]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("INSERT INTO CI_SoftwareUpdates VALUES (?1, ?2, ?3, ?4)")?;
    for u in updates {
        stmt.execute(params![u.ci_id, u.article_id, u.severity, u.is_expired])?;
    }
    Ok(())
}

fn insert_compliance(tx: &Transaction<'_>, states: &[Compliance]) -> rusqlite::Result<()> {
    insert_rows(tx, "Update_ComplianceStatus", 4, states, |stmt, at, s| {
        stmt.raw_bind_parameter(at, s.item_key)?;
        stmt.raw_bind_parameter(at + 1, s.update_ci_id)?;
        stmt.raw_bind_parameter(at + 2, s.status)?;
        stmt.raw_bind_parameter(at + 3, s.error_code)
    })
}

fn insert_app_deployments(
    tx: &Transaction<'_>,
    deployments: &[AppDeployment],
) -> rusqlite::Result<()> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO CI_AppDeployments VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for d in deployments {
        stmt.execute(params![
            d.deployment_id,
            d.app_ci_id,
            d.collection_id,
            d.action,
            d.purpose
        ])?;
    }
    Ok(())
}

fn insert_update_groups(tx: &Transaction<'_>, groups: &[UpdateGroup]) -> rusqlite::Result<()> {
    let mut group = tx.prepare_cached("INSERT INTO CI_UpdateGroups VALUES (?1, ?2)")?;
    let mut member = tx.prepare_cached("INSERT INTO CI_UpdateGroupMembers VALUES (?1, ?2)")?;
    let mut deployment =
        tx.prepare_cached("INSERT INTO UpdateDeployments (GroupID, CollectionID) VALUES (?1, ?2)")?;
    for g in groups {
        group.execute(params![g.group_id, g.name])?;
        for m in &g.members {
            member.execute(params![g.group_id, m])?;
        }
        for c in &g.deployed_to {
            deployment.execute(params![g.group_id, c])?;
        }
    }
    Ok(())
}

fn insert_boundary_groups(tx: &Transaction<'_>, groups: &[BoundaryGroup]) -> rusqlite::Result<()> {
    let mut group = tx.prepare_cached("INSERT INTO BoundaryGroups VALUES (?1, ?2, ?3)")?;
    let mut boundary = tx.prepare_cached("INSERT INTO Boundaries VALUES (?1, ?2, ?3, ?4)")?;
    for g in groups {
        group.execute(params![g.group_id, g.name, g.site_systems])?;
        for b in &g.boundaries {
            boundary.execute(params![b.boundary_id, g.group_id, b.boundary_type, b.value])?;
        }
    }
    Ok(())
}

fn insert_custom_table(tx: &Transaction<'_>, table: &CustomTable) -> rusqlite::Result<()> {
    // The name comes from the generator, but quote it as an identifier all the same.
    let name = table.name.replace('"', "\"\"");
    tx.execute_batch(&format!(
        "CREATE TABLE \"{name}\" (ID INTEGER PRIMARY KEY, Note TEXT NOT NULL)"
    ))?;
    let mut stmt = tx.prepare(&format!("INSERT INTO \"{name}\" VALUES (?1, ?2)"))?;
    for (id, note) in &table.rows {
        stmt.execute(params![id, note])?;
    }
    Ok(())
}
