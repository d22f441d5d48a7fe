//! The usage payload as the top-level site's service connection point builds it from
//! `TEL_TelemetryResults`: what the online SCP uploads and the service connection tool's
//! `-prepare` writes into a cabinet.

use std::collections::BTreeMap;
use std::io::Write;

use usage_protocol::payload::{Period, ProbeResult, Row, SCHEMA_VERSION, SiteEntry, UsagePayload};

use crate::engine::{ResultRow, SiteDatabase, SiteInfo};

#[derive(Debug, thiserror::Error)]
pub enum PayloadBuildError {
    #[error("no usage data yet: the first weekly run is 7 days after install ({installed})")]
    NoDataYet { installed: String },
    #[error("week {week} has not run at this site (weeks run: {have})")]
    NoSuchWeek { week: u32, have: String },
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("row {id} of TEL_TelemetryResults is not a JSON object: {source}")]
    Row { id: i64, source: serde_json::Error },
    #[error("TEL_SiteList row {id} lacks `{field}`")]
    SiteList { id: i64, field: &'static str },
}

/// What a payload says about itself, from the top-level site's own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadHeader {
    pub hierarchy_hash: String,
    pub product_version: String,
    /// The level the week's run was at.
    pub level: String,
    pub mode: String,
    pub week: u32,
    pub start: String,
}

impl PayloadHeader {
    /// The header of `week`'s payload (`None`: the latest week that ran).
    pub fn of(info: &SiteInfo, week: Option<u32>) -> Result<Self, PayloadBuildError> {
        let run = match week {
            None => info
                .runs
                .last()
                .ok_or_else(|| PayloadBuildError::NoDataYet {
                    installed: info.installed.clone(),
                })?,
            Some(w) => info.runs.iter().find(|r| r.week == w).ok_or_else(|| {
                PayloadBuildError::NoSuchWeek {
                    week: w,
                    have: if info.runs.is_empty() {
                        "none yet".into()
                    } else {
                        info.runs
                            .iter()
                            .map(|r| r.week.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                }
            })?,
        };
        Ok(Self {
            hierarchy_hash: crate::hash::tel_hash(&info.hierarchy_id),
            product_version: info.version.clone(),
            level: run.level.clone(),
            mode: info.mode.clone(),
            week: run.week,
            start: run.started_on.clone(),
        })
    }
}

/// The usage payload of a week, read from the top-level site's `TEL_TelemetryResults`: what the
/// online service connection point uploads and `sct prepare` writes into a cabinet.
pub async fn payload_for_week(
    db: &dyn SiteDatabase,
    week: Option<u32>,
) -> Result<UsagePayload, PayloadBuildError> {
    let header = PayloadHeader::of(&db.site_info().await?, week)?;
    let rows = db.results_of_week(header.week).await?;
    build_payload(&header, &rows)
}

/// Builds a payload from the week's result rows.
pub fn build_payload(
    header: &PayloadHeader,
    rows: &[ResultRow],
) -> Result<UsagePayload, PayloadBuildError> {
    let week = header.week;
    let mut results: BTreeMap<(String, String), Vec<(u32, Row)>> = BTreeMap::new();
    let mut sites = Vec::new();
    for r in rows.iter().filter(|r| r.week == week) {
        let data: Row = serde_json::from_str(&r.data)
            .map_err(|source| PayloadBuildError::Row { id: r.id, source })?;
        if r.probe == "TEL_SiteList" {
            sites.push(site_entry(r.id, &data)?);
        }
        results
            .entry((r.site_hash.clone(), r.probe.clone()))
            .or_default()
            .push((r.row_no, data));
    }
    sites.sort_by(|a: &SiteEntry, b| a.site.cmp(&b.site));
    Ok(UsagePayload {
        schema_version: SCHEMA_VERSION,
        hierarchy_id: header.hierarchy_hash.clone(),
        product_version: header.product_version.clone(),
        level: header.level.clone(),
        mode: header.mode.clone(),
        period: Period {
            week,
            start: header.start.clone(),
        },
        sites,
        results: results
            .into_iter()
            .map(|((site, probe), mut rows)| {
                rows.sort_by_key(|(n, _)| *n);
                ProbeResult {
                    probe,
                    site,
                    rows: rows.into_iter().map(|(_, r)| r).collect(),
                }
            })
            .collect(),
    })
}

fn site_entry(id: i64, data: &Row) -> Result<SiteEntry, PayloadBuildError> {
    let text = |field: &'static str| {
        data.get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or(PayloadBuildError::SiteList { id, field })
    };
    Ok(SiteEntry {
        site: text("site")?,
        site_type: text("type")?,
        version: text("version")?,
        status: text("status")?,
        clients: data.get("clients").and_then(|v| v.as_u64()).ok_or(
            PayloadBuildError::SiteList {
                id,
                field: "clients",
            },
        )?,
        time_zone: text("time_zone")?,
    })
}

/// Serialises and gzips a payload. Deterministic: gzip's header carries no timestamp here, so
/// the same payload always gives the same bytes.
pub fn encode(payload: &UsagePayload) -> (Vec<u8>, Vec<u8>) {
    let json = serde_json::to_vec(payload).expect("payloads serialise");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).expect("writing to memory");
    let gzip = gz.finish().expect("writing to memory");
    (json, gzip)
}

/// The upload's `Idempotency-Key`: one per hierarchy and week, so every retry of a week's upload
/// carries the same key.
pub fn idempotency_key(hierarchy_hash: &str, week: u32) -> String {
    let name = format!("usage/{hierarchy_hash}/week/{week}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}
