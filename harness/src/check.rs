//! Verification of what arrived upstream: every probe's rows against its oracle, the site list,
//! the hierarchy hash, the level, one upload per week, and a scan of every received byte for the
//! personal and identifying values the generator made.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use usage_protocol::payload::{Row, SiteEntry, UsagePayload};

use crate::generate;
use crate::hash::tel_hash;
use crate::model::{HierarchyModel, SiteFacts};
use crate::probes::{self, EngineInfo, OracleInput, PreviousRun, canonical};
use crate::scenario::Level;

/// Every finding code the checker can report; scenarios name them in `[expect] findings`.
pub const FINDING_CODES: &[&str] = &[
    "probe_mismatch",
    "missing_probe",
    "unexpected_probe",
    "probe_error",
    "missing_site",
    "unexpected_site",
    "site_list_mismatch",
    "pii_leak",
    "hierarchy_hash",
    "level_mismatch",
    "payload_invalid",
    "missing_upload",
    "upload_count",
    "upload_failed",
    "cab_name_clash",
    "update_packs",
    "budget_exceeded",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

impl Finding {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            FINDING_CODES.contains(&code),
            "undeclared finding code {code}"
        );
        Self {
            code,
            message: message.into(),
            week: None,
            site: None,
            probe: None,
        }
    }

    pub fn week(mut self, week: u32) -> Self {
        self.week = Some(week);
        self
    }

    pub fn site(mut self, site: &str) -> Self {
        self.site = Some(site.to_string());
        self
    }

    pub fn probe(mut self, probe: &str) -> Self {
        self.probe = Some(probe.to_string());
        self
    }
}

/// What one site must send in one week.
#[derive(Debug, Clone)]
pub struct ExpectedSite {
    pub code: String,
    pub entry: SiteEntry,
    pub probes: BTreeMap<&'static str, Vec<Row>>,
}

#[derive(Debug, Clone)]
pub struct ExpectedWeek {
    pub week: u32,
    pub level: Level,
    /// By hashed site code.
    pub sites: BTreeMap<String, ExpectedSite>,
}

/// Computes, from the model alone, what every week's upload must contain.
pub fn expected_weeks(
    hierarchy: &HierarchyModel,
    facts: &BTreeMap<String, SiteFacts>,
    levels: &[Level],
    engine: &EngineInfo,
) -> Vec<ExpectedWeek> {
    let mut previous: BTreeMap<&str, PreviousRun> = BTreeMap::new();
    let mut weeks = Vec::new();
    for (index, level) in levels.iter().enumerate() {
        let week = index as u32 + 1;
        let catalog = probes::for_level(*level);
        let mut sites = BTreeMap::new();
        for site in &hierarchy.sites {
            let site_facts = &facts[&site.code];
            let input = OracleInput {
                hierarchy,
                site,
                facts: site_facts,
                week,
                week_start: hierarchy.week_start(week),
                level: *level,
                engine,
                previous: previous.get(site.code.as_str()).cloned(),
            };
            let results: BTreeMap<&'static str, Vec<Row>> = catalog
                .iter()
                .map(|p| (p.name, canonical((p.oracle)(&input))))
                .collect();
            let rows: u64 = results.values().map(|r| r.len() as u64).sum();
            previous.insert(
                &site.code,
                PreviousRun {
                    week,
                    started_on: hierarchy.week_start(week),
                    probes: catalog.len() as u64,
                    errors: 0,
                    rows,
                    probe_names: catalog.iter().map(|p| p.name).collect(),
                },
            );
            let entry = SiteEntry {
                site: tel_hash(&site.code),
                site_type: site.role.as_str().into(),
                version: site.version.clone(),
                status: "Active".into(),
                clients: site_facts.clients,
                time_zone: site.time_zone.clone(),
            };
            sites.insert(
                entry.site.clone(),
                ExpectedSite {
                    code: site.code.clone(),
                    entry,
                    probes: results,
                },
            );
        }
        weeks.push(ExpectedWeek {
            week,
            level: *level,
            sites,
        });
    }
    weeks
}

/// One upload as the upstream stored it.
pub struct ReceivedUpload {
    pub receipt_id: String,
    pub json: Vec<u8>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckSummary {
    pub uploads_accepted: u32,
    pub probes_checked: u64,
    pub mismatches: u64,
    pub findings: Vec<Finding>,
}

/// Compares what the upstream received with the expectation.
pub fn check_uploads(
    hierarchy: &HierarchyModel,
    expected: &[ExpectedWeek],
    uploads: &[ReceivedUpload],
) -> CheckSummary {
    let mut summary = CheckSummary {
        uploads_accepted: uploads.len() as u32,
        ..Default::default()
    };
    let hierarchy_hash = tel_hash(&hierarchy.id.to_string());
    let mut by_week: BTreeMap<u32, Vec<(&ReceivedUpload, UsagePayload)>> = BTreeMap::new();
    for upload in uploads {
        match UsagePayload::from_json(&upload.json) {
            Ok(payload) => by_week
                .entry(payload.period.week)
                .or_default()
                .push((upload, payload)),
            Err(e) => summary.findings.push(Finding::new(
                "payload_invalid",
                format!("upload {}: {e}", upload.receipt_id),
            )),
        }
    }
    for week in expected {
        match by_week.remove(&week.week).as_deref() {
            None | Some([]) => summary.findings.push(
                Finding::new(
                    "missing_upload",
                    format!("no upload for week {}", week.week),
                )
                .week(week.week),
            ),
            Some(received) => {
                if received.len() > 1 {
                    summary.findings.push(
                        Finding::new(
                            "upload_count",
                            format!(
                                "week {} was stored {} times; one upload per hierarchy and week",
                                week.week,
                                received.len()
                            ),
                        )
                        .week(week.week),
                    );
                }
                for (_, payload) in received {
                    check_payload(&hierarchy_hash, week, payload, &mut summary);
                }
            }
        }
    }
    for (week, received) in by_week {
        summary.findings.push(
            Finding::new(
                "upload_count",
                format!(
                    "{} upload(s) for week {week}, which the run did not have",
                    received.len()
                ),
            )
            .week(week),
        );
    }
    summary
        .findings
        .extend(scan_for_personal_data(hierarchy, expected, uploads));
    summary
}

fn check_payload(
    hierarchy_hash: &str,
    week: &ExpectedWeek,
    payload: &UsagePayload,
    summary: &mut CheckSummary,
) {
    let w = week.week;
    if payload.hierarchy_id != hierarchy_hash {
        summary.findings.push(
            Finding::new(
                "hierarchy_hash",
                format!(
                    "hierarchy_id is `{}`, expected `{hierarchy_hash}`",
                    payload.hierarchy_id
                ),
            )
            .week(w),
        );
    }
    if payload.level != week.level.as_str() {
        summary.findings.push(
            Finding::new(
                "level_mismatch",
                format!(
                    "payload says level `{}`, the run was at `{}`",
                    payload.level, week.level
                ),
            )
            .week(w),
        );
    }
    let sent_sites: BTreeMap<&str, &SiteEntry> =
        payload.sites.iter().map(|s| (s.site.as_str(), s)).collect();
    let mut results: BTreeMap<(&str, &str), &Vec<Row>> = payload
        .results
        .iter()
        .map(|r| ((r.site.as_str(), r.probe.as_str()), &r.rows))
        .collect();
    for (hash, site) in &week.sites {
        match sent_sites.get(hash.as_str()) {
            None => summary.findings.push(
                Finding::new(
                    "missing_site",
                    format!("site {} is not in the week {w} upload", site.code),
                )
                .week(w)
                .site(&site.code),
            ),
            Some(entry) if **entry != site.entry => summary.findings.push(
                Finding::new(
                    "site_list_mismatch",
                    format!(
                        "site {}: sent {:?}, expected {:?}",
                        site.code, entry, site.entry
                    ),
                )
                .week(w)
                .site(&site.code),
            ),
            Some(_) => {}
        }
        let site_sent = sent_sites.contains_key(hash.as_str());
        for (probe, oracle) in &site.probes {
            summary.probes_checked += 1;
            match results.remove(&(hash.as_str(), probe)) {
                None if oracle.is_empty() => {}
                None => {
                    summary.mismatches += 1;
                    if site_sent {
                        summary.findings.push(
                            Finding::new(
                                "missing_probe",
                                format!("{probe} of site {} is missing", site.code),
                            )
                            .week(w)
                            .site(&site.code)
                            .probe(probe),
                        );
                    }
                }
                Some(rows) => {
                    let mut sent = rows.clone();
                    if let Some(p) = probes::by_name(probe) {
                        probes::mask_volatile(&mut sent, p.volatile);
                    }
                    let sent = canonical(sent);
                    if &sent != oracle {
                        summary.mismatches += 1;
                        summary.findings.push(
                            Finding::new("probe_mismatch", describe_difference(&sent, oracle))
                                .week(w)
                                .site(&site.code)
                                .probe(probe),
                        );
                    }
                }
            }
        }
    }
    for (site, probe) in results.keys() {
        let known_site = week.sites.get(*site).map(|s| s.code.clone());
        let finding = match (&known_site, probes::by_name(probe)) {
            (None, _) => Finding::new(
                "unexpected_site",
                format!("results from a site the hierarchy does not have ({site})"),
            ),
            (Some(_), Some(p)) if p.level > week.level => Finding::new(
                "unexpected_probe",
                format!(
                    "{probe} is a {} probe; the run was at {}",
                    p.level, week.level
                ),
            )
            .probe(probe),
            (Some(_), _) => {
                Finding::new("unexpected_probe", format!("{probe} is not in the catalog"))
                    .probe(probe)
            }
        };
        let finding = finding.week(w);
        summary.findings.push(match known_site {
            Some(code) => finding.site(&code),
            None => finding,
        });
    }
}

fn describe_difference(sent: &[Row], oracle: &[Row]) -> String {
    let sent_set: BTreeSet<String> = sent
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    let oracle_set: BTreeSet<String> = oracle
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    let extra: Vec<_> = sent_set.difference(&oracle_set).take(3).cloned().collect();
    let missing: Vec<_> = oracle_set.difference(&sent_set).take(3).cloned().collect();
    format!(
        "{} row(s) sent, {} expected; unexpected: [{}]; missing: [{}]",
        sent.len(),
        oracle.len(),
        extra.join(", "),
        missing.join(", ")
    )
}

/// A value that must not leave the site.
struct Secret<'a> {
    value: &'a str,
    what: &'static str,
    site: &'a str,
}

/// One upload prepared for scanning: its bytes and the set of its tokens.
struct Scannable<'a> {
    upload: &'a ReceivedUpload,
    /// Lower-cased bytes, for case-insensitive confirmation.
    folded: Vec<u8>,
    tokens: HashSet<Vec<u8>>,
    case_sensitive_tokens: HashSet<&'a [u8]>,
}

/// Characters that continue a token: a value only counts as found when it stands alone, so
/// `10.1.2.3` inside `110.1.2.34`, or `P01` inside a base64 digest, is not a leak.
fn joins(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'/' | b'_' | b'-')
}

fn tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| !joins(*b)).filter(|t| !t.is_empty())
}

impl<'a> Scannable<'a> {
    fn new(upload: &'a ReceivedUpload) -> Self {
        let folded = upload.json.to_ascii_lowercase();
        let folded_tokens = tokens(&folded).map(<[u8]>::to_vec).collect();
        let case_sensitive_tokens = tokens(&upload.json).collect();
        Self {
            upload,
            folded,
            tokens: folded_tokens,
            case_sensitive_tokens,
        }
    }

    /// True when `value` stands in the upload as a whole token sequence. Every token of the value
    /// must be a token of the upload (a hash lookup, which rules out nearly every value at once);
    /// only then is the upload searched for the value itself.
    fn contains(&self, value: &str, case_sensitive: bool) -> bool {
        let (haystack, needle) = if case_sensitive {
            if !tokens(value.as_bytes()).all(|t| self.case_sensitive_tokens.contains(t)) {
                return false;
            }
            (&self.upload.json[..], value.as_bytes().to_vec())
        } else {
            let needle = value.as_bytes().to_ascii_lowercase();
            if !tokens(&needle).all(|t| self.tokens.contains(t)) {
                return false;
            }
            (&self.folded[..], needle)
        };
        if needle.is_empty() || needle.len() > haystack.len() {
            return false;
        }
        haystack
            .windows(needle.len())
            .enumerate()
            .any(|(start, window)| {
                let end = start + needle.len();
                window == needle.as_slice()
                    && !start.checked_sub(1).is_some_and(|i| joins(haystack[i]))
                    && !haystack.get(end).is_some_and(|b| joins(*b))
            })
    }
}

/// Scans every received byte for values that identify a person, machine or the customer. At
/// Basic and Enhanced none may appear; custom table names may never appear at all. Clients are
/// generated again from the seed rather than kept, so the scan's memory stays flat however many
/// clients a site has.
pub fn scan_for_personal_data(
    hierarchy: &HierarchyModel,
    expected: &[ExpectedWeek],
    uploads: &[ReceivedUpload],
) -> Vec<Finding> {
    let private_weeks: BTreeSet<u32> = expected
        .iter()
        .filter(|w| w.level < Level::Full)
        .map(|w| w.week)
        .collect();
    let all: Vec<Scannable> = uploads.iter().map(Scannable::new).collect();
    let private: Vec<&Scannable> = all
        .iter()
        .filter(|u| week_of(&u.upload.json).is_none_or(|w| private_weeks.contains(&w)))
        .collect();
    let mut findings = Vec::new();
    let mut reported = BTreeSet::new();
    let mut check = |secret: Secret, scope: &[&Scannable], case_sensitive: bool| {
        for upload in scope {
            if upload.contains(secret.value, case_sensitive)
                && reported.insert((secret.what, secret.value.to_string()))
            {
                findings.push(
                    Finding::new(
                        "pii_leak",
                        format!(
                            "{} `{}` found in upload {}",
                            secret.what, secret.value, upload.upload.receipt_id
                        ),
                    )
                    .site(secret.site),
                );
            }
        }
    };
    let everywhere: Vec<&Scannable> = all.iter().collect();
    for site in &hierarchy.sites {
        // Site codes are three characters: matched case-sensitively, or `cas` (a site type)
        // would be taken for the code `CAS`.
        check(
            Secret {
                value: &site.code,
                what: "site code",
                site: &site.code,
            },
            &private,
            true,
        );
        check(
            Secret {
                value: &site.name,
                what: "site name",
                site: &site.code,
            },
            &private,
            false,
        );
        for name in generate::network_names(site) {
            check(
                Secret {
                    value: &name,
                    what: "boundary or boundary group",
                    site: &site.code,
                },
                &private,
                false,
            );
        }
        for name in generate::custom_table_names(site) {
            check(
                Secret {
                    value: &name,
                    what: "custom table name",
                    site: &site.code,
                },
                &everywhere,
                false,
            );
        }
        if private.is_empty() {
            continue;
        }
        let kinds = [
            "computer name",
            "user name",
            "IP address",
            "MAC address",
            "e-mail address",
        ];
        for client in generate::clients(site) {
            for (value, what) in client.personal_values().into_iter().zip(kinds) {
                check(
                    Secret {
                        value,
                        what,
                        site: &site.code,
                    },
                    &private,
                    false,
                );
            }
        }
    }
    findings
}

fn week_of(json: &[u8]) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct Head {
        period: Period,
    }
    #[derive(serde::Deserialize)]
    struct Period {
        week: u32,
    }
    serde_json::from_slice::<Head>(json)
        .ok()
        .map(|h| h.period.week)
}
