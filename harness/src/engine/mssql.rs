//! The SQL Server engine: site databases on real SQL Server instances, reached over TDS with
//! `tiberius`. The schema and the probes are T-SQL (`harness/sql/mssql/`): every probe is a
//! `TEL_*` stored procedure writing into `TEL_TelemetryResults`, driven by `TEL_RunWeekly`, as in
//! the product. Rows are loaded with TDS bulk inserts.
//!
//! Where the servers come from is the provisioner's business ([`super::provision`]): containers
//! started through Docker, or servers the user already runs.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use tiberius::{Client, ColumnData, Config, IntoSql, Row, TokenRow};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::provision::Provisioner;
use super::{
    Engine, EngineError, ImportedPack, ProbeRun, ResultRow, RunOutcome, RunRecord, SiteDatabase,
    SiteInfo, WeeklyRun,
};
use crate::generate::Batch;
use crate::model::{HierarchyModel, SiteModel};
use crate::probes::{self, Dialect, EngineInfo};
use crate::scenario::Level;

pub const SCHEMA: &str = include_str!("../../sql/mssql/schema.sql");
pub const WEEKLY: &str = include_str!("../../sql/mssql/weekly.sql");
pub const PROBE_TEMPLATE: &str = include_str!("../../sql/mssql/probe_procedure.sql");

type Connection = Client<Compat<TcpStream>>;

/// Splits a T-SQL script into batches at `GO` lines, as sqlcmd does.
pub fn batches(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("GO") {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// The `CREATE PROCEDURE` of a probe: its file as it is when it is a whole procedure, else its
/// query wrapped in the template.
pub fn probe_procedure(probe: &probes::Probe) -> String {
    let sql = probe.sql(Dialect::MsSql);
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    if code.trim_start().to_ascii_uppercase().starts_with("CREATE") {
        sql.to_string()
    } else {
        PROBE_TEMPLATE
            .replace("TEL_PROBE_NAME", probe.name)
            .replace("PROBE_QUERY", code.trim())
    }
}

fn quote_identifier(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

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

/// Connects to a server given an ADO.NET connection string, optionally into one database.
pub async fn connect(
    connection_string: &str,
    database: Option<&str>,
) -> Result<Connection, EngineError> {
    let mut config = Config::from_ado_string(connection_string).map_err(|e| {
        EngineError::Unavailable(format!("invalid SQL Server connection string: {e}"))
    })?;
    if let Some(db) = database {
        config.database(db);
    }
    let addr = config.get_addr();
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| EngineError::Unavailable(format!("cannot reach SQL Server at {addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| EngineError::Unavailable(format!("{addr}: {e}")))?;
    Client::connect(config, tcp.compat_write())
        .await
        .map_err(|e| {
            EngineError::Unavailable(format!("cannot log in to SQL Server at {addr}: {e}"))
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
        let mut master = connect(&server, None).await?;
        let fail = |action, e: tiberius::error::Error| EngineError::site(&site.code, action, e);
        let quoted = quote_identifier(&database);
        master
            .simple_query(format!(
                "IF DB_ID(N'{0}') IS NOT NULL BEGIN ALTER DATABASE {1} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {1}; END; CREATE DATABASE {1};",
                database.replace('\'', "''"),
                quoted
            ))
            .await
            .map_err(|e| fail("create database", e))?
            .into_results()
            .await
            .map_err(|e| fail("create database", e))?;
        let mut conn = connect(&server, Some(&database)).await?;
        if self.info.get().is_none() {
            let row = conn
                .simple_query(
                    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)), CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128)), CAST(SERVERPROPERTY('Collation') AS NVARCHAR(128))",
                )
                .await
                .map_err(|e| fail("read server properties", e))?
                .into_row()
                .await
                .map_err(|e| fail("read server properties", e))?;
            if let Some(row) = row {
                let text = |i: usize| row.get::<&str, _>(i).unwrap_or_default().to_string();
                let _ = self.info.set(EngineInfo {
                    product: "SQL Server".into(),
                    version: text(0),
                    edition: text(1),
                    collation: text(2),
                });
            }
        }
        Ok(Arc::new(MssqlSite {
            code: site.code.clone(),
            conn: Mutex::new(conn),
        }))
    }
}

pub struct MssqlSite {
    code: String,
    conn: Mutex<Connection>,
}

impl MssqlSite {
    fn fail(&self, action: &'static str) -> impl Fn(tiberius::error::Error) -> EngineError + '_ {
        move |e| EngineError::site(&self.code, action, e)
    }

    async fn run_script(
        &self,
        conn: &mut Connection,
        script: &str,
        action: &'static str,
    ) -> Result<(), EngineError> {
        for batch in batches(script) {
            conn.simple_query(batch)
                .await
                .map_err(self.fail(action))?
                .into_results()
                .await
                .map_err(self.fail(action))?;
        }
        Ok(())
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&dyn tiberius::ToSql],
        action: &'static str,
    ) -> Result<Vec<Row>, EngineError> {
        let mut conn = self.conn.lock().await;
        conn.query(sql, params)
            .await
            .map_err(self.fail(action))?
            .into_first_result()
            .await
            .map_err(self.fail(action))
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&dyn tiberius::ToSql],
        action: &'static str,
    ) -> Result<u64, EngineError> {
        let mut conn = self.conn.lock().await;
        Ok(conn
            .execute(sql, params)
            .await
            .map_err(self.fail(action))?
            .total())
    }
}

fn text(row: &Row, i: usize) -> String {
    row.get::<&str, _>(i).unwrap_or_default().to_string()
}

fn result_row(row: &Row) -> ResultRow {
    ResultRow {
        id: row.get::<i64, _>(0).unwrap_or_default(),
        week: row.get::<i32, _>(1).unwrap_or_default() as u32,
        probe: text(row, 2),
        site_hash: text(row, 3),
        hierarchy_hash: text(row, 4),
        row_no: row.get::<i32, _>(5).unwrap_or_default() as u32,
        data: text(row, 6),
        collected_on: text(row, 7),
    }
}

const RESULT_COLUMNS: &str =
    "ID, Week, ProbeName, SiteHash, HierarchyHash, RowNo, ResultData, CollectedOn";

fn owned(s: &str) -> ColumnData<'static> {
    s.to_string().into_sql()
}

/// Bulk-inserts `rows` into `table` (all columns, in table order, unless `columns` says).
async fn bulk(
    conn: &mut Connection,
    table: &str,
    columns: &[&str],
    rows: Vec<TokenRow<'static>>,
) -> tiberius::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut request = conn.bulk_insert_columns(table, columns).await?;
    for row in rows {
        request.send(row).await?;
    }
    request.finalize().await?;
    Ok(())
}

fn token_row(values: Vec<ColumnData<'static>>) -> TokenRow<'static> {
    let mut row = TokenRow::with_capacity(values.len());
    for v in values {
        row.push(v);
    }
    row
}

async fn insert_batch(conn: &mut Connection, batch: Batch) -> tiberius::Result<()> {
    match batch {
        Batch::Clients(clients) => {
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
        Batch::Applications(apps) => {
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
        Batch::Collections(collections) => {
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
        Batch::Updates(updates) => {
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
        Batch::Compliance(states) => {
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
        Batch::AppDeployments(deployments) => {
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
        Batch::UpdateGroups(groups) => {
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
        Batch::BoundaryGroups(groups) => {
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
        Batch::CustomTable(table) => {
            let name = quote_identifier(&table.name);
            conn.simple_query(format!("CREATE TABLE dbo.{name} (ID BIGINT NOT NULL PRIMARY KEY, Note NVARCHAR(400) NOT NULL)"))
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
    }
}

#[async_trait]
impl SiteDatabase for MssqlSite {
    fn code(&self) -> &str {
        &self.code
    }

    async fn install(
        &self,
        hierarchy: &HierarchyModel,
        site: &SiteModel,
    ) -> Result<(), EngineError> {
        {
            let mut conn = self.conn.lock().await;
            self.run_script(&mut conn, SCHEMA, "install schema").await?;
            self.run_script(&mut conn, WEEKLY, "install TEL_RunWeekly")
                .await?;
            for probe in probes::CATALOG {
                self.run_script(
                    &mut conn,
                    &probe_procedure(probe),
                    "install probe procedure",
                )
                .await?;
            }
        }
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
        Ok(())
    }

    async fn load(&self, mut batches: mpsc::Receiver<Batch>) -> Result<u64, EngineError> {
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

    async fn set_level(&self, level: Level) -> Result<(), EngineError> {
        self.execute(
            "UPDATE dbo.TEL_Settings SET Level = @P1",
            &[&level.as_str()],
            "set level",
        )
        .await
        .map(drop)
    }

    async fn run_weekly(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError> {
        let start = Instant::now();
        let names: Vec<&str> = run.probes.iter().map(|p| p.name).collect();
        let list = names.join(",");
        let week = run.week as i32;
        let started_on = run.started_on.to_string();
        let rows = self
            .query(
                "EXEC dbo.TEL_RunWeekly @week = @P1, @week_start = @P2, @probes = @P3",
                &[&week, &started_on, &list],
                "weekly run",
            )
            .await?;
        let elapsed = start.elapsed();
        let mut probes = Vec::new();
        for probe in run.probes {
            let row = rows
                .iter()
                .find(|r| r.get::<&str, _>(0) == Some(probe.name));
            probes.push(ProbeRun {
                probe: probe.name,
                rows: row.and_then(|r| r.get::<i64, _>(3)).unwrap_or(0) as u64,
                elapsed: std::time::Duration::from_millis(
                    row.and_then(|r| r.get::<i64, _>(1)).unwrap_or(0) as u64,
                ),
                error: match row {
                    None => Some("TEL_RunWeekly did not report this probe".into()),
                    Some(r) => r.get::<&str, _>(2).map(str::to_string),
                },
            });
        }
        Ok(RunOutcome { probes, elapsed })
    }

    async fn results_of_week(&self, week: u32) -> Result<Vec<ResultRow>, EngineError> {
        let week = week as i32;
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM dbo.TEL_TelemetryResults WHERE Week = @P1 ORDER BY ID"
        );
        Ok(self
            .query(&sql, &[&week], "read results")
            .await?
            .iter()
            .map(result_row)
            .collect())
    }

    async fn results_after(&self, after: i64) -> Result<Vec<ResultRow>, EngineError> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM dbo.TEL_TelemetryResults WHERE ID > @P1 ORDER BY ID"
        );
        Ok(self
            .query(&sql, &[&after], "read results")
            .await?
            .iter()
            .map(result_row)
            .collect())
    }

    async fn apply_replicated(&self, source: &str, rows: &[ResultRow]) -> Result<(), EngineError> {
        let Some(last) = rows.iter().map(|r| r.id).max() else {
            return Ok(());
        };
        let current = self.watermark(source).await?;
        let fresh: Vec<TokenRow<'static>> = rows
            .iter()
            .filter(|r| r.id > current)
            .map(|r| {
                token_row(vec![
                    (r.week as i32).into_sql(),
                    r.probe.clone().into_sql(),
                    r.site_hash.clone().into_sql(),
                    r.hierarchy_hash.clone().into_sql(),
                    (r.row_no as i32).into_sql(),
                    r.data.clone().into_sql(),
                    r.collected_on.clone().into_sql(),
                ])
            })
            .collect();
        let mut conn = self.conn.lock().await;
        let fail = self.fail("apply replicated rows");
        conn.simple_query("BEGIN TRANSACTION")
            .await
            .map_err(&fail)?
            .into_results()
            .await
            .map_err(&fail)?;
        let applied: tiberius::Result<()> = async {
            bulk(
                &mut conn,
                "dbo.TEL_TelemetryResults",
                &["Week", "ProbeName", "SiteHash", "HierarchyHash", "RowNo", "ResultData", "CollectedOn"],
                fresh,
            )
            .await?;
            conn.execute(
                "MERGE dbo.TEL_ReplicationWatermark AS w USING (SELECT @P1 AS SourceSite, @P2 AS LastID) AS s
                   ON w.SourceSite = s.SourceSite
                 WHEN MATCHED THEN UPDATE SET LastID = CASE WHEN s.LastID > w.LastID THEN s.LastID ELSE w.LastID END
                 WHEN NOT MATCHED THEN INSERT (SourceSite, LastID) VALUES (s.SourceSite, s.LastID);",
                &[&source, &last],
            )
            .await?;
            Ok(())
        }
        .await;
        let end = if applied.is_ok() {
            "COMMIT TRANSACTION"
        } else {
            "ROLLBACK TRANSACTION"
        };
        conn.simple_query(end)
            .await
            .map_err(&fail)?
            .into_results()
            .await
            .map_err(&fail)?;
        applied.map_err(fail)
    }

    async fn watermark(&self, source: &str) -> Result<i64, EngineError> {
        let rows = self
            .query(
                "SELECT LastID FROM dbo.TEL_ReplicationWatermark WHERE SourceSite = @P1",
                &[&source],
                "read watermark",
            )
            .await?;
        Ok(rows.first().and_then(|r| r.get::<i64, _>(0)).unwrap_or(0))
    }

    async fn site_info(&self) -> Result<SiteInfo, EngineError> {
        let site = self
            .query(
                "SELECT SiteCode, Version, InstallDate FROM dbo.Sites",
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
        Ok(SiteInfo {
            code: text(site, 0),
            hierarchy_id: text(settings, 0),
            level: text(settings, 1),
            mode: text(settings, 2),
            version: text(site, 1),
            installed: text(site, 2),
            runs: runs
                .iter()
                .map(|r| RunRecord {
                    week: r.get::<i32, _>(0).unwrap_or_default() as u32,
                    started_on: text(r, 1),
                    level: text(r, 2),
                })
                .collect(),
        })
    }

    async fn import_update_packs(&self, packs: &[ImportedPack]) -> Result<(), EngineError> {
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

    async fn update_packs(&self) -> Result<Vec<ImportedPack>, EngineError> {
        let rows = self
            .query(
                "SELECT PackID, Name, Version, SHA256 FROM dbo.UpdatePacks ORDER BY PackID",
                &[],
                "read update packs",
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ImportedPack {
                id: text(r, 0),
                name: text(r, 1),
                version: text(r, 2),
                sha256: text(r, 3),
            })
            .collect())
    }
}
