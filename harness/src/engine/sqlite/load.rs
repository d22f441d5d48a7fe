//! Generated rows into the site's tables, one batch per transaction (the caller's).

use rusqlite::{Transaction, params};

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
    let mut stmt = tx.prepare_cached(
        "INSERT INTO System_DISC VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    )?;
    for c in clients {
        stmt.execute(params![
            c.item_key,
            c.netbios_name,
            c.user_name,
            c.ip_address,
            c.mac_address,
            c.email,
            c.client_version,
            c.os_caption,
            c.os.version,
            c.os.build,
            c.ubr,
            c.branch,
            c.bios_date.to_string(),
            c.os_install_date.to_string(),
            c.uefi,
            c.secure_boot,
            c.tpm,
            c.is_virtual,
            c.cpu,
            c.last_active_days,
            c.ep_state,
        ])?;
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
    let mut stmt =
        tx.prepare_cached("INSERT INTO Update_ComplianceStatus VALUES (?1, ?2, ?3, ?4)")?;
    for s in states {
        stmt.execute(params![s.item_key, s.update_ci_id, s.status, s.error_code])?;
    }
    Ok(())
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
