//! Generated rows into the site's tables, batch by batch, through TDS bulk inserts.

use tiberius::IntoSql;
use tokio::sync::mpsc;

use super::super::EngineError;
use super::bulk::{bulk, owned, token_row};
use super::connection::Connection;
use super::script::quote_identifier;
use super::site::MssqlSite;
use crate::generate::Batch;
use crate::model::{
    AppDeployment, Application, BoundaryGroup, Client, Collection, Compliance, CustomTable,
    SoftwareUpdate, UpdateGroup,
};

impl MssqlSite {
    /// Loads batches until the channel closes; returns the rows loaded.
    pub(super) async fn load_batches(
        &self,
        mut batches: mpsc::Receiver<Batch>,
    ) -> Result<u64, EngineError> {
        let mut conn = self.conn.lock().await;
        let mut rows = 0;
        while let Some(batch) = batches.recv().await {
            rows += batch.rows();
            insert_batch(&mut conn, batch)
                .await
                .map_err(self.fail("bulk load"))?;
        }
        Ok(rows)
    }
}

async fn insert_batch(conn: &mut Connection, batch: Batch) -> tiberius::Result<()> {
    match batch {
        Batch::Clients(clients) => insert_clients(conn, clients).await,
        Batch::Applications(apps) => insert_applications(conn, apps).await,
        Batch::Collections(collections) => insert_collections(conn, collections).await,
        Batch::Updates(updates) => insert_updates(conn, updates).await,
        Batch::Compliance(states) => insert_compliance(conn, states).await,
        Batch::AppDeployments(deployments) => insert_app_deployments(conn, deployments).await,
        Batch::UpdateGroups(groups) => insert_update_groups(conn, groups).await,
        Batch::BoundaryGroups(groups) => insert_boundary_groups(conn, groups).await,
        Batch::CustomTable(table) => insert_custom_table(conn, table).await,
    }
}

async fn insert_clients(conn: &mut Connection, clients: Vec<Client>) -> tiberius::Result<()> {
    let rows = clients
        .into_iter()
        .map(|c| {
            token_row(vec![
                c.item_key.into_sql(),
                c.netbios_name.into_sql(),
                Some(c.user_name).into_sql(),
                Some(c.ip_address).into_sql(),
                Some(c.mac_address).into_sql(),
                Some(c.email).into_sql(),
                owned(c.client_version),
                owned(c.os.caption),
                owned(c.os.version),
                (c.os.build as i32).into_sql(),
                (c.ubr as i32).into_sql(),
                c.branch.into_sql(),
                c.bios_date.into_sql(),
                c.os_install_date.into_sql(),
                u8::from(c.uefi).into_sql(),
                u8::from(c.secure_boot).into_sql(),
                u8::from(c.tpm).into_sql(),
                u8::from(c.is_virtual).into_sql(),
                owned(c.cpu),
                (c.last_active_days as i32).into_sql(),
                c.ep_state.into_sql(),
            ])
        })
        .collect();
    bulk(conn, "dbo.System_DISC", &["*"], rows).await
}

async fn insert_applications(
    conn: &mut Connection,
    apps: Vec<Application>,
) -> tiberius::Result<()> {
    let mut dts = Vec::new();
    let rows = apps
        .into_iter()
        .map(|a| {
            for dt in &a.deployment_types {
                dts.push(token_row(vec![
                    dt.ci_id.into_sql(),
                    a.ci_id.into_sql(),
                    owned(dt.technology),
                    dt.product_code.clone().into_sql(),
                ]));
            }
            token_row(vec![
                a.ci_id.into_sql(),
                a.title.into_sql(),
                a.manufacturer.into_sql(),
                a.superseded_by.into_sql(),
            ])
        })
        .collect();
    bulk(conn, "dbo.CI_Applications", &["*"], rows).await?;
    bulk(conn, "dbo.CI_DeploymentTypes", &["*"], dts).await
}

async fn insert_collections(
    conn: &mut Connection,
    collections: Vec<Collection>,
) -> tiberius::Result<()> {
    let rows = collections
        .into_iter()
        .map(|c| {
            token_row(vec![
                c.collection_id.into_sql(),
                c.name.into_sql(),
                c.collection_type.into_sql(),
                (c.member_count as i32).into_sql(),
            ])
        })
        .collect();
    bulk(conn, "dbo.Collections", &["*"], rows).await
}

async fn insert_updates(
    conn: &mut Connection,
    updates: Vec<SoftwareUpdate>,
) -> tiberius::Result<()> {
    let rows = updates
        .into_iter()
        .map(|u| {
            token_row(vec![
                u.ci_id.into_sql(),
                u.article_id.into_sql(),
                u.severity.into_sql(),
                u8::from(u.is_expired).into_sql(),
            ])
        })
        .collect();
    bulk(conn, "dbo.CI_SoftwareUpdates", &["*"], rows).await
}

async fn insert_compliance(conn: &mut Connection, states: Vec<Compliance>) -> tiberius::Result<()> {
    let rows = states
        .into_iter()
        .map(|s| {
            token_row(vec![
                s.item_key.into_sql(),
                s.update_ci_id.into_sql(),
                s.status.into_sql(),
                s.error_code.into_sql(),
            ])
        })
        .collect();
    bulk(conn, "dbo.Update_ComplianceStatus", &["*"], rows).await
}

async fn insert_app_deployments(
    conn: &mut Connection,
    deployments: Vec<AppDeployment>,
) -> tiberius::Result<()> {
    let rows = deployments
        .into_iter()
        .map(|d| {
            token_row(vec![
                d.deployment_id.into_sql(),
                d.app_ci_id.into_sql(),
                d.collection_id.into_sql(),
                owned(d.action),
                owned(d.purpose),
            ])
        })
        .collect();
    bulk(conn, "dbo.CI_AppDeployments", &["*"], rows).await
}

async fn insert_update_groups(
    conn: &mut Connection,
    groups: Vec<UpdateGroup>,
) -> tiberius::Result<()> {
    let (mut members, mut deployments, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for g in groups {
        for m in &g.members {
            members.push(token_row(vec![g.group_id.into_sql(), m.into_sql()]));
        }
        for c in &g.deployed_to {
            deployments.push(token_row(vec![g.group_id.into_sql(), c.clone().into_sql()]));
        }
        rows.push(token_row(vec![g.group_id.into_sql(), g.name.into_sql()]));
    }
    bulk(conn, "dbo.CI_UpdateGroups", &["*"], rows).await?;
    bulk(conn, "dbo.CI_UpdateGroupMembers", &["*"], members).await?;
    bulk(
        conn,
        "dbo.UpdateDeployments",
        &["GroupID", "CollectionID"],
        deployments,
    )
    .await
}

async fn insert_boundary_groups(
    conn: &mut Connection,
    groups: Vec<BoundaryGroup>,
) -> tiberius::Result<()> {
    let (mut boundaries, mut rows) = (Vec::new(), Vec::new());
    for g in groups {
        for b in &g.boundaries {
            boundaries.push(token_row(vec![
                b.boundary_id.into_sql(),
                g.group_id.into_sql(),
                owned(b.boundary_type),
                b.value.clone().into_sql(),
            ]));
        }
        rows.push(token_row(vec![
            g.group_id.into_sql(),
            g.name.into_sql(),
            (g.site_systems as i32).into_sql(),
        ]));
    }
    bulk(conn, "dbo.BoundaryGroups", &["*"], rows).await?;
    bulk(conn, "dbo.Boundaries", &["*"], boundaries).await
}

async fn insert_custom_table(conn: &mut Connection, table: CustomTable) -> tiberius::Result<()> {
    let name = quote_identifier(&table.name);
    conn.simple_query(format!(
        "CREATE TABLE dbo.{name} (ID BIGINT NOT NULL PRIMARY KEY, Note NVARCHAR(400) NOT NULL)"
    ))
    .await?
    .into_results()
    .await?;
    let rows = table
        .rows
        .into_iter()
        .map(|(id, note)| token_row(vec![id.into_sql(), note.into_sql()]))
        .collect();
    bulk(conn, &format!("dbo.{name}"), &["*"], rows).await
}
