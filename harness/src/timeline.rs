//! The day-by-day story of a run (`harness run --timeline`): the install, then each weekly cycle
//! on its day — the faults that strike it, which site ran how many probes, what replication did,
//! and every upload attempt with its answer and the (simulated) wait after it.
//!
//! It is told from the scenario (the calendar and the schedule) and the run's report (the probes
//! that ran, the attempts made), and holds nothing measured in wall time, so a seed tells the
//! same story every time: the README shows one, and a test keeps it equal to what is printed.

use std::fmt::Write;

use crate::model::HierarchyModel;
use crate::report::{ScenarioReport, UploadAttempt};
use crate::scenario::{FaultKind, FaultSpec, Scenario};

/// The story of `report`'s run of `scenario`.
pub fn render(scenario: &Scenario, report: &ScenarioReport) -> String {
    let h = &scenario.hierarchy;
    let installed = scenario.installed();
    let model = HierarchyModel::from_scenario(scenario);
    let mut sites: Vec<String> = Vec::new();
    if h.cas {
        sites.push(h.cas_code.get_ref().to_ascii_uppercase());
    }
    sites.extend(
        h.primary
            .iter()
            .map(|p| p.code.get_ref().to_ascii_uppercase()),
    );
    let mut t = String::new();
    let _ = writeln!(t, "timeline of {}", scenario.name);
    let with_top: Vec<&str> = model
        .sites
        .iter()
        .filter(|s| s.installed == installed)
        .map(|s| s.code.as_str())
        .collect();
    let _ = writeln!(
        t,
        "{installed}  installed: {} (level {}, {} service connection point)",
        with_top.join(", "),
        h.level.as_str(),
        h.scp_mode.as_str()
    );
    for week in 1..=scenario.weeks() {
        let day = installed + chrono::Days::new(7 * u64::from(week));
        let cycle_began = day - chrono::Days::new(7);
        for site in model
            .sites
            .iter()
            .filter(|s| s.installed > cycle_began && s.installed <= day && s.installed != installed)
        {
            let _ = writeln!(
                t,
                "{}  installed: {} (its own calendar: a run every 7 days from this day)",
                site.installed, site.code
            );
        }
        let _ = writeln!(t, "{day}  week {week}");
        for f in scenario.faults.iter().filter(|f| f.strikes(week)) {
            let _ = writeln!(t, "            fault: {}", describe(f));
        }
        let _ = writeln!(t, "            runs: {}", runs(report, &model, week));
        if h.cas {
            let _ = writeln!(
                t,
                "            replication: {}",
                replication(scenario, &model, week)
            );
        }
        let uploads: Vec<&UploadAttempt> = report
            .timings
            .uploads
            .iter()
            .filter(|u| u.week == week)
            .collect();
        if uploads.is_empty() {
            let _ = writeln!(t, "            upload: none");
        }
        for upload in uploads {
            let offline = scenario.hierarchy.scp_mode == crate::scenario::ScpMode::Offline;
            let _ = writeln!(t, "            {}", upload_story(upload, offline));
        }
    }
    t
}

fn describe(f: &FaultSpec) -> String {
    let mut d = f.kind.get_ref().name().to_string();
    if let Some(site) = &f.site {
        let _ = write!(d, " at {}", site.get_ref().to_ascii_uppercase());
    }
    for (key, value) in [
        ("status", f.status.as_ref().map(|v| v.get_ref().to_string())),
        (
            "retry_after_s",
            f.retry_after_s.as_ref().map(|v| v.get_ref().to_string()),
        ),
        ("ms", f.ms.as_ref().map(|v| v.get_ref().to_string())),
        ("count", f.count.as_ref().map(|v| v.get_ref().to_string())),
        ("level", f.level.as_ref().map(|v| v.get_ref().clone())),
        ("to", f.to.as_ref().map(|v| v.get_ref().clone())),
        ("at", f.at.as_ref().map(|v| v.get_ref().clone())),
    ] {
        if let Some(value) = value {
            let _ = write!(d, ", {key} {value}");
        }
    }
    d
}

/// Which site ran how many probes in the cycle (a site on a later calendar: which of its runs,
/// on which day), and which did not run.
fn runs(report: &ScenarioReport, model: &HierarchyModel, cycle: u32) -> String {
    model
        .sites
        .iter()
        .map(|site| {
            let Some(run) = site.run_in_cycle(cycle) else {
                let cycle_day = model.week_start(cycle);
                return if site.installed > cycle_day {
                    format!("{} not installed yet", site.code)
                } else {
                    format!("{} first run on {}", site.code, site.run_day(1))
                };
            };
            let probes = report
                .timings
                .probes
                .iter()
                .filter(|p| p.week == run && p.site == site.code)
                .count();
            let which = if site.cycle_offset > 0 {
                format!(" run {run} on {}:", site.run_day(run))
            } else {
                String::new()
            };
            if probes == 0 {
                format!("{}{which} none", site.code)
            } else {
                format!("{}{which} {probes} probes", site.code)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What each child primary's replication did that week, by the schedule.
fn replication(scenario: &Scenario, model: &HierarchyModel, week: u32) -> String {
    let struck = |kind: FaultKind, site: &str| {
        scenario.faults_at(week, kind).any(|f| {
            f.site
                .as_ref()
                .is_some_and(|s| s.get_ref().eq_ignore_ascii_case(site))
        })
    };
    let cas = scenario.hierarchy.cas_code.get_ref();
    if struck(FaultKind::SiteDbDown, cas) {
        return "none (the CAS is down)".into();
    }
    scenario
        .hierarchy
        .primary
        .iter()
        .map(|p| {
            let code = p.code.get_ref().to_ascii_uppercase();
            let ran = model
                .site(&code)
                .is_some_and(|s| s.run_in_cycle(week).is_some());
            let what = if !ran {
                "nothing to send yet"
            } else if struck(FaultKind::SiteDbDown, &code) {
                "held (its database is down)"
            } else if struck(FaultKind::ReplicationDown, &code) {
                "held (replication_down)"
            } else if struck(FaultKind::ReplicationCrash, &code) {
                "died and rolled back (replication_crash)"
            } else if struck(FaultKind::ReplicationDuplicate, &code) {
                "sent twice, kept once"
            } else {
                "sent"
            };
            format!("{code} {what}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An upload's attempts: each answer, and the wait after it.
fn upload_story(upload: &UploadAttempt, offline: bool) -> String {
    if offline {
        // One `-connect` of the week's cabinet from the transfer folder.
        return match (&upload.receipt, &upload.error) {
            (Some(_), _) => "prepare, connect, import: the cabinet was stored".into(),
            (None, Some(error)) => format!("prepare, connect: refused — {}", portless(error)),
            (None, None) => "prepare, connect".into(),
        };
    }
    let mut story = if upload.resent {
        "upload (resent from the outbox):".to_string()
    } else {
        "upload:".to_string()
    };
    for (n, attempt) in upload.attempt_log.iter().enumerate() {
        if n > 0 {
            story.push(';');
        }
        let answer = match (attempt.status, &attempt.error) {
            (Some(status), Some(error)) if error.contains("timed out") => {
                format!("timed out (the service answered {status} too late)")
            }
            (Some(200), _) => "200 (stored before: the same receipt)".into(),
            (Some(409), _) if upload.receipt.is_some() => {
                "409 (a first body stored under this key: its receipt)".into()
            }
            (Some(status), _) => status.to_string(),
            (None, Some(error)) if error.contains("timed out") => "timed out".into(),
            (None, _) => "no answer".into(),
        };
        let _ = write!(story, " {answer}");
        if attempt.wait_after_ms > 0.0 {
            let _ = write!(story, ", waits {}", wait(attempt.wait_after_ms));
        }
    }
    match (&upload.receipt, &upload.error) {
        (Some(_), _) => story.push_str(" — stored"),
        (None, Some(error)) => {
            let _ = write!(story, " — gave up: {}", portless(error));
        }
        (None, None) => {}
    }
    story
}

/// An error without the local service's address (`http://127.0.0.1:PORT`), whose port changes
/// every run: the same scenario tells the same story.
fn portless(error: &str) -> String {
    const LOCAL: &str = "http://127.0.0.1:";
    let mut out = String::with_capacity(error.len());
    let mut rest = error;
    while let Some(at) = rest.find(LOCAL) {
        out.push_str(&rest[..at]);
        rest = rest[at + LOCAL.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn wait(ms: f64) -> String {
    if ms >= 3_600_000.0 {
        format!("{:.1} h", ms / 3_600_000.0)
    } else if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_local_address_is_left_out() {
        assert_eq!(
            super::portless(
                "attempt 8: error sending request for url (http://127.0.0.1:43557/v1/usage)"
            ),
            "attempt 8: error sending request for url (/v1/usage)"
        );
        assert_eq!(super::portless("http://127.0.0.1:"), "");
        assert_eq!(super::portless("no address"), "no address");
    }
}
