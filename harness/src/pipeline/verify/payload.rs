//! One received upload on its own: the hashed hierarchy ID, the level it states, its site list
//! (each site once, as the model has it), and its entries (each probe run once, none above the
//! level in force when it was sent, none of a site the list leaves out).

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, UsagePayload};

use super::{CheckSummary, ExpectedWeek};
use crate::finding::{Finding, FindingCode};
use crate::probes::Catalog;
use crate::scenario::Level;

pub(super) fn check_upload(
    catalog: &Catalog,
    hierarchy_hash: &str,
    expected: &[ExpectedWeek],
    receipt: &str,
    payload: &UsagePayload,
    sent_in: u32,
    summary: &mut CheckSummary,
) {
    let cycle = payload.period.week;
    let mut push = |finding: Finding| summary.findings.push(finding.week(cycle));
    if payload.hierarchy_id != hierarchy_hash {
        push(Finding::new(
            FindingCode::HierarchyHash,
            format!(
                "upload {receipt}: hierarchy_id is `{}`, expected `{hierarchy_hash}`",
                payload.hierarchy_id
            ),
        ));
    }
    let level_in = |week: u32| {
        (week as usize)
            .checked_sub(1)
            .and_then(|i| expected.get(i))
            .map(|w| w.level)
    };
    if let Some(level) = level_in(cycle)
        && payload.level != level.as_str()
    {
        push(Finding::new(
            FindingCode::LevelMismatch,
            format!(
                "upload {receipt}: says level `{}`, the level in force was `{level}`",
                payload.level
            ),
        ));
    }
    for finding in site_list(expected, receipt, payload) {
        push(finding);
    }
    // Nothing may leave above the level in force when it is sent, whatever the upload says.
    let stated = Level::parse(&payload.level).ok();
    let sent_at = match (stated, level_in(sent_in)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for finding in entries(catalog, receipt, payload, sent_at) {
        push(finding);
    }
}

/// Each site once, as the model describes it.
fn site_list(expected: &[ExpectedWeek], receipt: &str, payload: &UsagePayload) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    let model: BTreeMap<&str, _> = expected
        .iter()
        .flat_map(|w| w.sites.iter().map(|(h, s)| (h.as_str(), s)))
        .collect();
    for entry in &payload.sites {
        let code = model.get(entry.site.as_str()).map(|s| s.code.clone());
        if !seen.insert(entry.site.as_str()) {
            findings.push(Finding::new(
                FindingCode::DuplicateSite,
                format!(
                    "upload {receipt} lists site {} twice",
                    code.as_deref().unwrap_or(&entry.site)
                ),
            ));
            continue;
        }
        match model.get(entry.site.as_str()) {
            None => findings.push(Finding::new(
                FindingCode::UnexpectedSite,
                format!(
                    "upload {receipt} lists a site the hierarchy does not have ({})",
                    entry.site
                ),
            )),
            Some(site) if *entry != site.entry => findings.push(
                Finding::new(
                    FindingCode::SiteListMismatch,
                    format!(
                        "upload {receipt}, site {}: sent {entry:?}, expected {:?}",
                        site.code, site.entry
                    ),
                )
                .site(&site.code),
            ),
            Some(_) => {}
        }
    }
    for r in &payload.results {
        if !seen.contains(r.site.as_str()) && model.contains_key(r.site.as_str()) {
            let code = &model[r.site.as_str()].code;
            findings.push(
                Finding::new(
                    FindingCode::MissingSite,
                    format!("upload {receipt} carries results of site {code} but does not list it"),
                )
                .site(code),
            );
            seen.insert(r.site.as_str());
        }
    }
    findings
}

/// Each probe run once in the upload, and none above the level the upload was sent at.
fn entries(
    catalog: &Catalog,
    receipt: &str,
    payload: &UsagePayload,
    level: Option<Level>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen: BTreeMap<(&str, u32, &str), &Vec<Row>> = BTreeMap::new();
    for r in &payload.results {
        let week = r.week_in(payload);
        if let Some(first) = seen.insert((r.site.as_str(), week, r.probe.as_str()), &r.rows) {
            let same = if *first == r.rows {
                "the same"
            } else {
                "different"
            };
            findings.push(
                Finding::new(
                    FindingCode::DuplicateEntry,
                    format!(
                        "upload {receipt} carries {} of week {week} twice ({same} rows: {} and {})",
                        r.probe,
                        first.len(),
                        r.rows.len()
                    ),
                )
                .probe(&r.probe),
            );
        }
        if let (Some(p), Some(level)) = (catalog.by_name(&r.probe), level)
            && p.level > level
        {
            findings.push(
                Finding::new(
                    FindingCode::UnexpectedProbe,
                    format!(
                        "upload {receipt} was sent at {level} but carries {} (a {} probe)",
                        r.probe, p.level
                    ),
                )
                .probe(&r.probe),
            );
        }
    }
    findings
}
