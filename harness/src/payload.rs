//! The usage payload as the top-level site's service connection point builds it from
//! `TEL_TelemetryResults`: what the online SCP uploads and the service connection tool's
//! `-prepare` writes into a cabinet.

use std::io::Write;

use usage_protocol::payload::{
    Part, Period, ProbeResult, Row, SCHEMA_VERSION, SiteEntry, UsagePayload,
};

use crate::engine::{EntryKey, PendingEntry, ResultRow, SiteDatabase, SiteInfo};
use crate::probes::Catalog;
use crate::scenario::Level;

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
    #[error("TEL_Settings holds the level `{0}`, which is not basic, enhanced or full")]
    Level(String),
    #[error("the outbox's batch is not a gzipped usage payload: {0}")]
    Staged(String),
}

/// What a payload says about itself, from the top-level site's own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadHeader {
    pub hierarchy_hash: String,
    pub product_version: String,
    /// The level in force when it is sent.
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
            level: info.level.clone(),
            mode: info.mode.clone(),
            week: run.week,
            start: run.started_on.clone(),
        })
    }
}

/// The largest JSON body of one upload. A backlog larger than this goes in parts, each under
/// its own `Idempotency-Key`; the mock upstream refuses decompressed bodies over 24 MiB, so a
/// part always fits. (A single entry larger than the limit still goes, alone, in its own part.)
pub const MAX_PART_BYTES: usize = 16 << 20;

/// What the service connection point has to send: every probe run not yet delivered.
#[derive(Debug, Clone)]
pub struct Backlog {
    pub header: PayloadHeader,
    pub sites: Vec<SiteEntry>,
    /// Entries allowed at the level in force, oldest week first.
    pub entries: Vec<PendingEntry>,
    /// Entries whose probe is above the level in force now: they are never sent.
    pub above_level: Vec<EntryKey>,
}

/// One upload of a backlog, and the probe runs it carries.
#[derive(Debug, Clone)]
pub struct PreparedPart {
    pub payload: UsagePayload,
    pub entries: Vec<EntryKey>,
}

/// Reads the top-level site's backlog, the upload stamped with cycle `week` (`None`: the latest
/// weekly run). A row is sent only if its probe is allowed at the level in force when it is sent.
pub async fn backlog(
    db: &dyn SiteDatabase,
    catalog: &Catalog,
    week: Option<u32>,
) -> Result<Backlog, PayloadBuildError> {
    let info = db.site_info().await?;
    let header = PayloadHeader::of(&info, week)?;
    let level =
        Level::parse(&info.level).map_err(|_| PayloadBuildError::Level(info.level.clone()))?;
    let mut sites = db
        .site_list()
        .await?
        .iter()
        .map(|r| site_entry(r.id, &parse_row(r)?))
        .collect::<Result<Vec<_>, _>>()?;
    sites.sort_by(|a, b| a.site.cmp(&b.site));
    let (entries, above): (Vec<PendingEntry>, Vec<PendingEntry>) =
        db.pending_entries().await?.into_iter().partition(|e| {
            catalog
                .by_name(&e.key.probe)
                .is_none_or(|p| p.level <= level)
        });
    Ok(Backlog {
        header,
        sites,
        entries,
        above_level: above.into_iter().map(|e| e.key).collect(),
    })
}

/// The backlog as uploads of at most [`MAX_PART_BYTES`] of JSON each (one when it fits; none
/// when nothing is pending), numbered from `first`: when parts `1..first` of the cycle went
/// before (the SCP restarted after them), the rest continue their numbering and their count, so
/// the service is never told "part 1 of 2" without a part 2.
pub fn parts(
    backlog: &Backlog,
    limit: usize,
    first: u32,
) -> Result<Vec<PreparedPart>, PayloadBuildError> {
    if backlog.entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut groups: Vec<(Vec<ProbeResult>, Vec<EntryKey>, usize)> = vec![Default::default()];
    for entry in &backlog.entries {
        let result = probe_result(entry)?;
        let size = serde_json::to_vec(&result).map_or(0, |j| j.len());
        let current = groups.last_mut().expect("one group at least");
        if current.2 + size > limit && !current.0.is_empty() {
            groups.push(Default::default());
        }
        let current = groups.last_mut().expect("one group at least");
        current.0.push(result);
        current.1.push(entry.key.clone());
        current.2 += size;
    }
    let count = first - 1 + groups.len() as u32;
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, (results, entries, _))| PreparedPart {
            payload: UsagePayload {
                schema_version: SCHEMA_VERSION,
                hierarchy_id: backlog.header.hierarchy_hash.clone(),
                product_version: backlog.header.product_version.clone(),
                level: backlog.header.level.clone(),
                mode: backlog.header.mode.clone(),
                period: Period {
                    week: backlog.header.week,
                    start: backlog.header.start.clone(),
                },
                part: (count > 1).then_some(Part {
                    index: first + i as u32,
                    count,
                }),
                sites: backlog.sites.clone(),
                results,
            },
            entries,
        })
        .collect())
}

/// The backlog as one payload, whatever its size: what `sct export` shows and tests read.
pub async fn pending_payload(
    db: &dyn SiteDatabase,
    catalog: &Catalog,
    week: Option<u32>,
) -> Result<UsagePayload, PayloadBuildError> {
    let backlog = backlog(db, catalog, week).await?;
    Ok(whole(&backlog)?.payload)
}

/// The backlog as one upload, whatever its size (a cabinet, or what `export` shows); an empty
/// one when nothing is pending.
pub fn whole(backlog: &Backlog) -> Result<PreparedPart, PayloadBuildError> {
    let mut parts = parts(backlog, usize::MAX, 1)?;
    if parts.is_empty() {
        let empty = Backlog {
            entries: Vec::new(),
            ..backlog.clone()
        };
        return Ok(PreparedPart {
            payload: UsagePayload {
                schema_version: SCHEMA_VERSION,
                hierarchy_id: empty.header.hierarchy_hash.clone(),
                product_version: empty.header.product_version.clone(),
                level: empty.header.level.clone(),
                mode: empty.header.mode.clone(),
                period: Period {
                    week: empty.header.week,
                    start: empty.header.start.clone(),
                },
                part: None,
                sites: empty.sites,
                results: Vec::new(),
            },
            entries: Vec::new(),
        });
    }
    Ok(parts.remove(0))
}

fn probe_result(entry: &PendingEntry) -> Result<ProbeResult, PayloadBuildError> {
    Ok(ProbeResult {
        probe: entry.key.probe.clone(),
        site: entry.key.site_hash.clone(),
        week: Some(entry.key.week),
        period_start: Some(entry.period_start.clone()),
        rows: entry.rows.iter().map(parse_row).collect::<Result<_, _>>()?,
    })
}

fn parse_row(r: &ResultRow) -> Result<Row, PayloadBuildError> {
    serde_json::from_str(&r.data).map_err(|source| PayloadBuildError::Row { id: r.id, source })
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

/// A staged upload body after the level was lowered: the same payload (its cycle's, stating
/// that cycle's level) without the results of the probes `above` says the level now in force
/// does not allow. Returns its JSON and gzip, as [`encode`].
pub fn at_lower_level(
    gzip: &[u8],
    above: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, Vec<u8>), PayloadBuildError> {
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(gzip), &mut json)
        .map_err(|e| PayloadBuildError::Staged(e.to_string()))?;
    let mut payload =
        UsagePayload::from_json(&json).map_err(|e| PayloadBuildError::Staged(e.to_string()))?;
    payload.results.retain(|e| !above(&e.probe));
    Ok(encode(&payload))
}

/// The upload's `Idempotency-Key`: one per hierarchy, cycle and part, so every retry of an
/// upload carries the same key.
pub fn idempotency_key(hierarchy_hash: &str, cycle: u32, part: u32) -> String {
    let name = format!("usage/{hierarchy_hash}/week/{cycle}/part/{part}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(entries: usize) -> Backlog {
        let entry = |n: usize| PendingEntry {
            key: EntryKey {
                site_hash: crate::hash::tel_hash("P01"),
                week: 1 + n as u32 % 3,
                probe: format!("TEL_Probe{n}"),
            },
            period_start: "2026-01-05".into(),
            rows: (0..4)
                .map(|r| ResultRow {
                    id: (n * 10 + r) as i64,
                    week: 1,
                    probe: format!("TEL_Probe{n}"),
                    site_hash: crate::hash::tel_hash("P01"),
                    hierarchy_hash: crate::hash::tel_hash("h"),
                    row_no: r as u32 + 1,
                    data: format!("{{\"value\":\"{}\"}}", "x".repeat(100)),
                    collected_on: "2026-01-05".into(),
                })
                .collect(),
        };
        Backlog {
            header: PayloadHeader {
                hierarchy_hash: crate::hash::tel_hash("h"),
                product_version: "5.00.8540.1000".into(),
                level: "enhanced".into(),
                mode: "online".into(),
                week: 3,
                start: "2026-01-19".into(),
            },
            sites: Vec::new(),
            entries: (0..entries).map(entry).collect(),
            above_level: Vec::new(),
        }
    }

    /// A backlog over the limit goes in parts: every entry in exactly one, none over the limit
    /// (unless alone), each part numbered; one that fits is one upload without a `part`.
    #[test]
    fn a_large_backlog_goes_in_parts_and_loses_nothing() {
        let whole = parts(&backlog(10), usize::MAX, 1).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].payload.part, None);

        let limit = 2_000;
        let split = parts(&backlog(10), limit, 1).unwrap();
        assert!(split.len() > 1, "{} part(s)", split.len());
        let mut carried = Vec::new();
        for (i, part) in split.iter().enumerate() {
            assert_eq!(
                part.payload.part,
                Some(Part {
                    index: i as u32 + 1,
                    count: split.len() as u32
                })
            );
            let size: usize = part
                .payload
                .results
                .iter()
                .map(|r| serde_json::to_vec(r).unwrap().len())
                .sum();
            assert!(
                size <= limit || part.entries.len() == 1,
                "part {i}: {size} B"
            );
            assert_eq!(part.entries.len(), part.payload.results.len());
            carried.extend(part.entries.iter().cloned());
        }
        let all: Vec<EntryKey> = backlog(10).entries.into_iter().map(|e| e.key).collect();
        assert_eq!(carried, all);
        assert!(parts(&backlog(0), limit, 1).unwrap().is_empty());
    }

    /// After a restart that followed part 1 of a cycle, the rest are parts 2.. of the same
    /// count — even when they now fit in one upload.
    #[test]
    fn parts_after_a_restart_continue_the_numbering() {
        let rest = parts(&backlog(3), usize::MAX, 2).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].payload.part, Some(Part { index: 2, count: 2 }));
    }
}
