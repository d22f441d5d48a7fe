//! Delivery over the whole run: every probe run of every site's every week arrives exactly once,
//! or its absence is reported — explained by a fault of the schedule (`data_not_delivered`) or
//! not (`data_lost`) — and a late arrival is reported with how late it was.

use std::collections::{BTreeMap, BTreeSet};

use usage_protocol::payload::{Row, UsagePayload};

use super::{
    CheckSummary, ExpectedSite, ExpectedWeek, Explanations, ReceivedUpload, describe_difference,
};
use crate::finding::{Finding, FindingCode};
use crate::probes::{self, Catalog, canonical};

/// One arrival of a probe run: the cycle of the upload that carried it, and its rows.
struct Arrival<'a> {
    cycle: u32,
    receipt: &'a str,
    rows: &'a [Row],
}

type Key<'a> = (&'a str, u32, &'a str);

pub(super) fn check_delivery(
    catalog: &Catalog,
    expected: &[ExpectedWeek],
    received: &[(&ReceivedUpload, UsagePayload)],
    why: &Explanations,
    summary: &mut CheckSummary,
) {
    let mut arrivals: BTreeMap<Key, Vec<Arrival>> = BTreeMap::new();
    for (upload, payload) in received {
        for r in &payload.results {
            arrivals
                .entry((r.site.as_str(), r.week_in(payload), r.probe.as_str()))
                .or_default()
                .push(Arrival {
                    cycle: why.stored_in(upload, payload.period.week),
                    receipt: &upload.receipt_id,
                    rows: &r.rows,
                });
        }
    }
    let mut late: BTreeMap<(String, u32), (u32, usize)> = BTreeMap::new();
    let mut missing: BTreeMap<(String, u32, Option<&'static str>), Vec<String>> = BTreeMap::new();
    for week in expected {
        for (hash, site) in &week.sites {
            for (probe, oracle) in &site.probes {
                let key = (hash.as_str(), site.run, *probe);
                let copies = arrivals.remove(&key).unwrap_or_default();
                if why
                    .failed_probes
                    .contains_key(&(site.code.clone(), site.run, probe.to_string()))
                {
                    continue; // reported as probe_error; a failed run is never sent
                }
                summary.probes_checked += 1;
                let Some(first) = copies.first() else {
                    summary.mismatches += 1;
                    let cause = why.cause(catalog, expected, &site.code, week.week, probe);
                    missing
                        .entry((site.code.clone(), site.run, cause))
                        .or_default()
                        .push(probe.to_string());
                    continue;
                };
                if copies.len() > 1 {
                    let receipts: Vec<&str> = copies.iter().map(|c| c.receipt).collect();
                    summary.findings.push(
                        Finding::new(
                            FindingCode::DuplicateEntry,
                            format!(
                                "{probe} of site {}, week {}, arrived {} times (uploads {})",
                                site.code,
                                site.run,
                                copies.len(),
                                receipts.join(", ")
                            ),
                        )
                        .week(site.run)
                        .site(&site.code)
                        .probe(probe),
                    );
                }
                match oracle {
                    None => {
                        // A loaded probe without expected rows (for this site).
                        summary.unchecked += 1;
                        summary.unchecked_probes.insert(probe.to_string());
                    }
                    Some(oracle) => compare_rows(catalog, site, probe, first.rows, oracle, summary),
                }
                if first.cycle > week.week {
                    // Late by cycles: the run falls in cycle `week.week`, whose upload could
                    // have carried it.
                    let entry = late.entry((site.code.clone(), site.run)).or_default();
                    entry.0 = entry.0.max(first.cycle - week.week);
                    entry.1 += 1;
                }
            }
        }
    }
    report_missing(missing, summary);
    report_late(late, summary);
    report_unexpected(catalog, expected, arrivals, summary);
}

/// The rows that arrived against the rows expected: a difference is a `probe_mismatch`.
fn compare_rows(
    catalog: &Catalog,
    site: &ExpectedSite,
    probe: &str,
    arrived: &[Row],
    expected: &[Row],
    summary: &mut CheckSummary,
) {
    let mut sent = arrived.to_vec();
    if let Some(p) = catalog.by_name(probe) {
        probes::mask_volatile(&mut sent, p.volatile);
    }
    let sent = canonical(sent);
    if sent != expected {
        summary.mismatches += 1;
        summary.findings.push(
            Finding::new(
                FindingCode::ProbeMismatch,
                describe_difference(&sent, expected),
            )
            .week(site.run)
            .site(&site.code)
            .probe(probe),
        );
    }
}

/// Absences, one finding per site, week and cause.
fn report_missing(
    missing: BTreeMap<(String, u32, Option<&'static str>), Vec<String>>,
    summary: &mut CheckSummary,
) {
    for ((code, week, cause), probes) in missing {
        let shown = probes
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = probes.len().saturating_sub(4);
        let list = if more > 0 {
            format!("{shown} and {more} more")
        } else {
            shown
        };
        let finding = match cause {
            Some(cause) => Finding::new(
                FindingCode::DataNotDelivered,
                format!(
                    "{} probe run(s) of site {code}, week {week}, never arrived ({list}): {cause}",
                    probes.len()
                ),
            ),
            None => Finding::new(
                FindingCode::DataLost,
                format!(
                    "{} probe run(s) of site {code}, week {week}, never arrived ({list}), and no \
                     fault of the schedule explains it",
                    probes.len()
                ),
            ),
        };
        summary.findings.push(finding.week(week).site(&code));
    }
}

/// Late arrivals, one finding per site and week.
fn report_late(late: BTreeMap<(String, u32), (u32, usize)>, summary: &mut CheckSummary) {
    for ((code, week), (uploads_late, probes)) in late {
        summary.findings.push(
            Finding::new(
                FindingCode::LateDelivery,
                format!(
                    "{probes} probe run(s) of site {code}, week {week}, arrived {uploads_late} \
                     upload(s) late"
                ),
            )
            .week(week)
            .site(&code),
        );
    }
}

/// Arrivals the run did not have: from a site the hierarchy lacks, a week that did not run, or
/// a probe outside the catalog or above its week's level.
fn report_unexpected(
    catalog: &Catalog,
    expected: &[ExpectedWeek],
    arrivals: BTreeMap<Key, Vec<Arrival>>,
    summary: &mut CheckSummary,
) {
    let known_sites: BTreeSet<&str> = expected
        .iter()
        .flat_map(|w| w.sites.keys().map(String::as_str))
        .collect();
    for ((site, week, probe), _) in arrivals {
        let finding = if !known_sites.contains(site) {
            Finding::new(
                FindingCode::UnexpectedSite,
                format!("results from a site the hierarchy does not have ({site})"),
            )
        } else {
            let code = expected
                .iter()
                .find_map(|w| w.sites.get(site).map(|s| s.code.clone()))
                .unwrap_or_default();
            let level = (week as usize)
                .checked_sub(1)
                .and_then(|i| expected.get(i))
                .map(|w| w.level);
            let detail = match (catalog.by_name(probe), level) {
                (None, _) => "is not in the catalog".to_string(),
                (Some(_), None) => format!("comes from week {week}, which the run did not have"),
                (Some(p), Some(level)) if p.level > level => {
                    format!("is a {} probe; week {week} ran at {level}", p.level)
                }
                (Some(_), Some(_)) => "was not expected".to_string(),
            };
            Finding::new(
                FindingCode::UnexpectedProbe,
                format!("{probe} of site {code}, week {week}, {detail}"),
            )
            .site(&code)
        };
        summary
            .findings
            .push(finding.week(week.max(1)).probe(probe));
    }
}
