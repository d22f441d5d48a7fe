//! Submit: the top-level site's service connection point turns a week of
//! `TEL_TelemetryResults` into the usage payload (DESIGN §5) and sends it.

use std::collections::BTreeMap;
use std::io::Write;

use mock_upstream::payload::{Period, ProbeResult, Row, SCHEMA_VERSION, SiteEntry, UsagePayload};

use crate::engine::ResultRow;
use crate::model::HierarchyModel;
use crate::scenario::Level;

#[derive(Debug, thiserror::Error)]
pub enum PayloadBuildError {
    #[error("row {id} of TEL_TelemetryResults is not a JSON object: {source}")]
    Row { id: i64, source: serde_json::Error },
    #[error("TEL_SiteList row {id} lacks `{field}`")]
    SiteList { id: i64, field: &'static str },
}

/// Builds the payload of `week` from the top-level site's result rows.
pub fn build_payload(
    hierarchy: &HierarchyModel,
    level: Level,
    week: u32,
    rows: &[ResultRow],
) -> Result<UsagePayload, PayloadBuildError> {
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
        hierarchy_id: crate::hash::tel_hash(&hierarchy.id.to_string()),
        product_version: hierarchy.version.clone(),
        level: level.as_str().into(),
        mode: hierarchy.mode.as_str().into(),
        period: Period {
            week,
            start: hierarchy.week_start(week).to_string(),
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
