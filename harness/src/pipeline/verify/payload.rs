//! One received payload against its week's expectation: the site list, every probe's rows as
//! multisets (measured columns masked), and nothing above the level or from elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, SiteEntry, UsagePayload};

use super::{CheckSummary, ExpectedSite, ExpectedWeek};
use crate::finding::{Finding, FindingCode};
use crate::probes::{self, canonical};

pub(super) fn check_payload(
    hierarchy_hash: &str,
    week: &ExpectedWeek,
    payload: &UsagePayload,
    summary: &mut CheckSummary,
) {
    check_header(hierarchy_hash, week, payload, summary);
    let w = week.week;
    let sent_sites: BTreeMap<&str, &SiteEntry> =
        payload.sites.iter().map(|s| (s.site.as_str(), s)).collect();
    let mut results: BTreeMap<(&str, &str), &Vec<Row>> = payload
        .results
        .iter()
        .map(|r| ((r.site.as_str(), r.probe.as_str()), &r.rows))
        .collect();
    for (hash, site) in &week.sites {
        check_site(w, site, sent_sites.get(hash.as_str()).copied(), summary);
        let site_sent = sent_sites.contains_key(hash.as_str());
        for (probe, oracle) in &site.probes {
            let sent = results.remove(&(hash.as_str(), probe));
            check_probe(w, site, probe, oracle, sent, site_sent, summary);
        }
    }
    for (site, probe) in results.keys() {
        summary.findings.push(unexpected_result(week, site, probe));
    }
}

/// The hashed hierarchy ID and the level the payload states.
fn check_header(
    hierarchy_hash: &str,
    week: &ExpectedWeek,
    payload: &UsagePayload,
    summary: &mut CheckSummary,
) {
    let w = week.week;
    if payload.hierarchy_id != hierarchy_hash {
        summary.findings.push(
            Finding::new(
                FindingCode::HierarchyHash,
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
                FindingCode::LevelMismatch,
                format!(
                    "payload says level `{}`, the run was at `{}`",
                    payload.level, week.level
                ),
            )
            .week(w),
        );
    }
}

/// A site's entry in the site list.
fn check_site(w: u32, site: &ExpectedSite, sent: Option<&SiteEntry>, summary: &mut CheckSummary) {
    match sent {
        None => summary.findings.push(
            Finding::new(
                FindingCode::MissingSite,
                format!("site {} is not in the week {w} upload", site.code),
            )
            .week(w)
            .site(&site.code),
        ),
        Some(entry) if *entry != site.entry => summary.findings.push(
            Finding::new(
                FindingCode::SiteListMismatch,
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
}

/// One probe of one site: its rows as a multiset, measured columns masked. A probe whose
/// oracle has no rows may be absent; a missing probe of a missing site is that site's finding.
fn check_probe(
    w: u32,
    site: &ExpectedSite,
    probe: &str,
    oracle: &[Row],
    sent: Option<&Vec<Row>>,
    site_sent: bool,
    summary: &mut CheckSummary,
) {
    summary.probes_checked += 1;
    let finding = match sent {
        None if oracle.is_empty() => return,
        None => {
            summary.mismatches += 1;
            if !site_sent {
                return;
            }
            Finding::new(
                FindingCode::MissingProbe,
                format!("{probe} of site {} is missing", site.code),
            )
        }
        Some(rows) => {
            let mut sent = rows.clone();
            if let Some(p) = probes::by_name(probe) {
                probes::mask_volatile(&mut sent, p.volatile);
            }
            let sent = canonical(sent);
            if sent == oracle {
                return;
            }
            summary.mismatches += 1;
            Finding::new(
                FindingCode::ProbeMismatch,
                describe_difference(&sent, oracle),
            )
        }
    };
    summary
        .findings
        .push(finding.week(w).site(&site.code).probe(probe));
}

/// Results the week should not have: from a site the hierarchy lacks, above the level, or of a
/// probe outside the catalog.
fn unexpected_result(week: &ExpectedWeek, site: &str, probe: &str) -> Finding {
    let known_site = week.sites.get(site).map(|s| s.code.clone());
    let finding = match (&known_site, probes::by_name(probe)) {
        (None, _) => Finding::new(
            FindingCode::UnexpectedSite,
            format!("results from a site the hierarchy does not have ({site})"),
        ),
        (Some(_), Some(p)) if p.level > week.level => Finding::new(
            FindingCode::UnexpectedProbe,
            format!(
                "{probe} is a {} probe; the run was at {}",
                p.level, week.level
            ),
        )
        .probe(probe),
        (Some(_), _) => Finding::new(
            FindingCode::UnexpectedProbe,
            format!("{probe} is not in the catalog"),
        )
        .probe(probe),
    };
    let finding = finding.week(week.week);
    match known_site {
        Some(code) => finding.site(&code),
        None => finding,
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
