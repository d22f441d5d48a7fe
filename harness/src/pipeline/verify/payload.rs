//! One received payload against its week's expectation: the site list, every probe's rows as
//! multisets (measured columns masked), and nothing above the level or from elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, SiteEntry, UsagePayload};

use super::{CheckSummary, ExpectedWeek};
use crate::finding::{Finding, FindingCode};
use crate::probes::{self, canonical};

pub(super) fn check_payload(
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
                    FindingCode::MissingSite,
                    format!("site {} is not in the week {w} upload", site.code),
                )
                .week(w)
                .site(&site.code),
            ),
            Some(entry) if **entry != site.entry => summary.findings.push(
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
                                FindingCode::MissingProbe,
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
                            Finding::new(
                                FindingCode::ProbeMismatch,
                                describe_difference(&sent, oracle),
                            )
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
