//! The weekly run: `TEL_RunWeekly` runs every probe's procedure on the server and answers with
//! one row per probe (name, duration, error, rows written).

use std::time::{Duration, Instant};

use tiberius::Row;

use super::super::{EngineError, ProbeRun, RunOutcome, WeeklyRun};
use super::site::MssqlSite;
use super::values::{ValueError, optional_text, text, unsigned_big};
use crate::probes::Probe;

impl MssqlSite {
    pub(super) async fn weekly_run(&self, run: &WeeklyRun<'_>) -> Result<RunOutcome, EngineError> {
        let start = Instant::now();
        let names: Vec<&str> = run.probes.iter().map(|p| p.name).collect();
        let list = names.join(",");
        let week = i32::try_from(run.week).map_err(self.fail("weekly run"))?;
        let started_on = run.started_on.to_string();
        let rows = self
            .query(
                "EXEC dbo.TEL_RunWeekly @week = @P1, @week_start = @P2, @probes = @P3",
                &[&week, &started_on, &list],
                "weekly run",
            )
            .await?;
        let elapsed = start.elapsed();
        let reported = rows
            .iter()
            .map(ProbeReport::read)
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.fail("read the weekly run's report"))?;
        let probes = run
            .probes
            .iter()
            .map(|probe| outcome_of(probe, &reported))
            .collect();
        Ok(RunOutcome { probes, elapsed })
    }
}

/// One row of `TEL_RunWeekly`'s answer.
struct ProbeReport {
    name: String,
    duration_ms: u64,
    error: Option<String>,
    rows: u64,
}

impl ProbeReport {
    fn read(row: &Row) -> Result<Self, ValueError> {
        Ok(Self {
            name: text(row, 0)?,
            duration_ms: unsigned_big(row, 1)?,
            error: optional_text(row, 2)?,
            rows: unsigned_big(row, 3)?,
        })
    }
}

/// How `probe` went, by the server's report; a probe the report leaves out is an error.
fn outcome_of(probe: &'static Probe, reported: &[ProbeReport]) -> ProbeRun {
    match reported.iter().find(|r| r.name == probe.name) {
        Some(r) => ProbeRun {
            probe: probe.name,
            rows: r.rows,
            elapsed: Duration::from_millis(r.duration_ms),
            error: r.error.clone(),
            vm_steps: None,
            cpu: None,
        },
        None => ProbeRun {
            probe: probe.name,
            rows: 0,
            elapsed: Duration::ZERO,
            error: Some("TEL_RunWeekly did not report this probe".into()),
            vm_steps: None,
            cpu: None,
        },
    }
}
