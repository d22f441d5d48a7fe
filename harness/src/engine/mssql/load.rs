//! Generated rows into the site's tables, batch by batch, through [`super::bulk`].

use tiberius::IntoSql;
use tokio::sync::mpsc;

use super::super::EngineError;
use super::bulk::{Values, load, owned};
use super::connection::Connection;
use super::script::quote_identifier;
use super::site::MssqlSite;
use crate::generate::Batch;
use crate::model::{
    AppDeployment, Application, BoundaryGroup, Client, Collection, Compliance, CustomTable,
    SoftwareUpdate, UpdateGroup,
};

const SYSTEM_DISC: [&str; 21] = [
    "ItemKey",
    "Netbios_Name0",
    "User_Name0",
    "IP_Addresses0",
    "MAC_Addresses0",
    "Mail0",
    "Client_Version0",
    "Operating_System_Caption0",
    "OS_Version0",
    "OS_Build0",
    "OS_UBR0",
    "OSBranch01",
    "BIOS_ReleaseDate0",
    "OS_InstallDate0",
    "UEFI0",
    "SecureBoot0",
    "TPM_Enabled0",
    "Is_Virtual_Machine0",
    "CPU_Name0",
    "LastActiveDays0",
    "EP_State0",
];
const CI_APPLICATIONS: [&str; 4] = ["CI_ID", "Title", "Manufacturer", "SupersededBy"];
const CI_DEPLOYMENT_TYPES: [&str; 4] = ["CI_ID", "AppCI_ID", "Technology", "ProductCode"];
const COLLECTIONS: [&str; 4] = ["CollectionID", "Name", "CollectionType", "MemberCount"];
const CI_SOFTWARE_UPDATES: [&str; 4] = ["CI_ID", "ArticleID", "Severity", "IsExpired"];
const UPDATE_COMPLIANCE_STATUS: [&str; 4] = ["ItemKey", "CI_ID", "Status", "LastErrorCode"];
const CI_APP_DEPLOYMENTS: [&str; 5] = [
    "DeploymentID",
    "AppCI_ID",
    "CollectionID",
    "Action",
    "Purpose",
];
const CI_UPDATE_GROUPS: [&str; 2] = ["GroupID", "Name"];
const CI_UPDATE_GROUP_MEMBERS: [&str; 2] = ["GroupID", "CI_ID"];
/// `DeploymentID` is an IDENTITY column: the server numbers the rows.
const UPDATE_DEPLOYMENTS: [&str; 2] = ["GroupID", "CollectionID"];
const BOUNDARY_GROUPS: [&str; 3] = ["GroupID", "Name", "SiteSystems"];
const BOUNDARIES: [&str; 4] = ["BoundaryID", "GroupID", "BoundaryType", "Value"];

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

fn client_row(c: Client) -> Values {
    vec![
        c.item_key.into_sql(),
        c.netbios_name.into_sql(),
        Some(c.user_name).into_sql(),
        Some(c.ip_address).into_sql(),
        Some(c.mac_address).into_sql(),
        Some(c.email).into_sql(),
        owned(&c.client_version),
        owned(&c.os_caption),
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
        owned(&c.cpu),
        (c.last_active_days as i32).into_sql(),
        c.ep_state.into_sql(),
    ]
}

async fn insert_clients(conn: &mut Connection, clients: Vec<Client>) -> tiberius::Result<()> {
    let rows = clients.into_iter().map(client_row).collect();
    load(conn, "dbo.System_DISC", &SYSTEM_DISC, rows).await
}

async fn insert_applications(
    conn: &mut Connection,
    apps: Vec<Application>,
) -> tiberius::Result<()> {
    let mut dts = Vec::new();
    let mut rows = Vec::new();
    for a in apps {
        for dt in &a.deployment_types {
            dts.push(vec![
                dt.ci_id.into_sql(),
                a.ci_id.into_sql(),
                owned(dt.technology),
                dt.product_code.clone().into_sql(),
            ]);
        }
        rows.push(vec![
            a.ci_id.into_sql(),
            a.title.into_sql(),
            a.manufacturer.into_sql(),
            a.superseded_by.into_sql(),
        ]);
    }
    load(conn, "dbo.CI_Applications", &CI_APPLICATIONS, rows).await?;
    load(conn, "dbo.CI_DeploymentTypes", &CI_DEPLOYMENT_TYPES, dts).await
}

async fn insert_collections(
    conn: &mut Connection,
    collections: Vec<Collection>,
) -> tiberius::Result<()> {
    let rows = collections
        .into_iter()
        .map(|c| {
            vec![
                c.collection_id.into_sql(),
                c.name.into_sql(),
                c.collection_type.into_sql(),
                (c.member_count as i32).into_sql(),
            ]
        })
        .collect();
    load(conn, "dbo.Collections", &COLLECTIONS, rows).await
}

async fn insert_updates(
    conn: &mut Connection,
    updates: Vec<SoftwareUpdate>,
) -> tiberius::Result<()> {
    let rows = updates
        .into_iter()
        .map(|u| {
            vec![
                u.ci_id.into_sql(),
                u.article_id.into_sql(),
                u.severity.into_sql(),
                u8::from(u.is_expired).into_sql(),
            ]
        })
        .collect();
    load(conn, "dbo.CI_SoftwareUpdates", &CI_SOFTWARE_UPDATES, rows).await
}

async fn insert_compliance(conn: &mut Connection, states: Vec<Compliance>) -> tiberius::Result<()> {
    let rows = states
        .into_iter()
        .map(|s| {
            vec![
                s.item_key.into_sql(),
                s.update_ci_id.into_sql(),
                s.status.into_sql(),
                s.error_code.into_sql(),
            ]
        })
        .collect();
    load(
        conn,
        "dbo.Update_ComplianceStatus",
        &UPDATE_COMPLIANCE_STATUS,
        rows,
    )
    .await
}

async fn insert_app_deployments(
    conn: &mut Connection,
    deployments: Vec<AppDeployment>,
) -> tiberius::Result<()> {
    let rows = deployments
        .into_iter()
        .map(|d| {
            vec![
                d.deployment_id.into_sql(),
                d.app_ci_id.into_sql(),
                d.collection_id.into_sql(),
                owned(d.action),
                owned(d.purpose),
            ]
        })
        .collect();
    load(conn, "dbo.CI_AppDeployments", &CI_APP_DEPLOYMENTS, rows).await
}

async fn insert_update_groups(
    conn: &mut Connection,
    groups: Vec<UpdateGroup>,
) -> tiberius::Result<()> {
    let (mut members, mut deployments, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for g in groups {
        for m in &g.members {
            members.push(vec![g.group_id.into_sql(), m.into_sql()]);
        }
        for c in &g.deployed_to {
            deployments.push(vec![g.group_id.into_sql(), c.clone().into_sql()]);
        }
        rows.push(vec![g.group_id.into_sql(), g.name.into_sql()]);
    }
    load(conn, "dbo.CI_UpdateGroups", &CI_UPDATE_GROUPS, rows).await?;
    load(
        conn,
        "dbo.CI_UpdateGroupMembers",
        &CI_UPDATE_GROUP_MEMBERS,
        members,
    )
    .await?;
    load(
        conn,
        "dbo.UpdateDeployments",
        &UPDATE_DEPLOYMENTS,
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
            boundaries.push(vec![
                b.boundary_id.into_sql(),
                g.group_id.into_sql(),
                owned(b.boundary_type),
                b.value.clone().into_sql(),
            ]);
        }
        rows.push(vec![
            g.group_id.into_sql(),
            g.name.into_sql(),
            (g.site_systems as i32).into_sql(),
        ]);
    }
    load(conn, "dbo.BoundaryGroups", &BOUNDARY_GROUPS, rows).await?;
    load(conn, "dbo.Boundaries", &BOUNDARIES, boundaries).await
}

async fn insert_custom_table(conn: &mut Connection, table: CustomTable) -> tiberius::Result<()> {
    let name = format!("dbo.{}", quote_identifier(&table.name));
    conn.simple_query(format!(
        "CREATE TABLE {name} (ID BIGINT NOT NULL PRIMARY KEY, Note NVARCHAR(400) NOT NULL)"
    ))
    .await?
    .into_results()
    .await?;
    let rows = table
        .rows
        .into_iter()
        .map(|(id, note)| vec![id.into_sql(), note.into_sql()])
        .collect();
    load(conn, &name, &["ID", "Note"], rows).await
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::engine::mssql::SCHEMA;

    /// The columns of `table` in schema.sql, in order, less IDENTITY columns.
    pub(crate) fn schema_columns(table: &str) -> Vec<String> {
        let start = SCHEMA
            .find(&format!("CREATE TABLE dbo.{table} ("))
            .unwrap_or_else(|| panic!("schema.sql has no {table}"));
        SCHEMA[start..]
            .lines()
            .skip(1)
            .take_while(|line| !line.starts_with(')'))
            .filter(|line| !line.contains("IDENTITY") && !line.trim().starts_with("CONSTRAINT"))
            .filter_map(|line| line.split_whitespace().next())
            .map(|name| name.trim_matches(['[', ']']).to_string())
            .collect()
    }

    #[test]
    fn every_load_names_the_columns_of_its_table_in_order() {
        let tables: [(&str, &[&str]); 12] = [
            ("System_DISC", &SYSTEM_DISC),
            ("CI_Applications", &CI_APPLICATIONS),
            ("CI_DeploymentTypes", &CI_DEPLOYMENT_TYPES),
            ("Collections", &COLLECTIONS),
            ("CI_SoftwareUpdates", &CI_SOFTWARE_UPDATES),
            ("Update_ComplianceStatus", &UPDATE_COMPLIANCE_STATUS),
            ("CI_AppDeployments", &CI_APP_DEPLOYMENTS),
            ("CI_UpdateGroups", &CI_UPDATE_GROUPS),
            ("CI_UpdateGroupMembers", &CI_UPDATE_GROUP_MEMBERS),
            ("UpdateDeployments", &UPDATE_DEPLOYMENTS),
            ("BoundaryGroups", &BOUNDARY_GROUPS),
            ("Boundaries", &BOUNDARIES),
        ];
        for (table, columns) in tables {
            assert_eq!(schema_columns(table), columns, "{table}");
        }
    }
}
