//! Shrinking a scenario file a user wrote by hand (`harness scenario shrink FILE`). A drawn
//! seed shrinks along the tree it was drawn from (proptest's shrinking, in [`super`]); a file
//! has no such tree, so this one edits the file itself, along the same dimensions: fewer
//! faults, neighbours, primaries and weeks, smaller sites. A candidate is kept when it still
//! fails the same way (the same rule broken); each kept candidate is written at once.

use std::path::Path;

use toml::{Table, Value};

use super::{Hold, SwarmOptions, Violation, run_and_check};

/// What shrinking a file found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shrunk {
    /// How the original file fails; `None` when it passes (nothing to shrink).
    pub original: Option<Violation>,
    /// How the smallest file fails, and its text.
    pub violation: Option<Violation>,
    pub text: String,
    pub runs: u32,
    pub steps: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Shrinks `text` (read from `file`) while it fails the same way, at most `max_runs` runs,
/// writing each smaller failing version to `into`. Runs go to `options.out`.
pub async fn shrink_file(
    text: &str,
    file: &Path,
    into: &Path,
    options: &SwarmOptions,
    max_runs: u32,
) -> Result<Shrunk, ShrinkError> {
    let runs_dir = options.out.join("shrink-run");
    let original = check(text, file, &runs_dir, options, Hold::AndExpectations).await;
    let Some(original) = original else {
        return Ok(Shrunk {
            original: None,
            violation: None,
            text: text.to_string(),
            runs: 1,
            steps: 0,
        });
    };
    if original.rule == "scenario_valid" {
        return Err(ShrinkError::Invalid(original.detail));
    }
    let cut = Cutting {
        file,
        into,
        runs_dir: &runs_dir,
        options,
        hold: Hold::AndExpectations,
    };
    let mut shrunk = cut.cut(text, &original, max_runs.saturating_sub(1)).await?;
    shrunk.runs += 1;
    Ok(shrunk)
}

/// One run of a candidate; how it fails, if it does.
async fn check(
    text: &str,
    file: &Path,
    runs_dir: &Path,
    options: &SwarmOptions,
    hold: Hold,
) -> Option<Violation> {
    let outcome = run_and_check(text, file, runs_dir, options, hold).await;
    let _ = fs_err::remove_dir_all(runs_dir);
    outcome.err()
}

/// Cutting a scenario file while it fails the same way.
pub struct Cutting<'a> {
    /// The name candidates are read under.
    pub file: &'a Path,
    /// Where each smaller failing version is written.
    pub into: &'a Path,
    pub runs_dir: &'a Path,
    pub options: &'a SwarmOptions,
    pub hold: Hold,
}

impl Cutting<'_> {
    /// Cuts `text`, which fails as `failure` says, in at most `budget` runs: each candidate of
    /// [`candidates`] is run, and the first that breaks the same rule becomes the file, until
    /// none does. `original` in the result is `failure`.
    pub async fn cut(
        &self,
        text: &str,
        failure: &Violation,
        budget: u32,
    ) -> Result<Shrunk, ShrinkError> {
        let mut shrunk = Shrunk {
            original: Some(failure.clone()),
            violation: Some(failure.clone()),
            text: text.to_string(),
            runs: 0,
            steps: 0,
        };
        let mut table: Table =
            toml::from_str(text).map_err(|e| ShrinkError::Invalid(e.to_string()))?;
        'smaller: while shrunk.runs < budget {
            for candidate in candidates(&table) {
                if shrunk.runs >= budget {
                    break 'smaller;
                }
                let candidate_text = toml::to_string(&candidate).expect("a table serialises");
                shrunk.runs += 1;
                if let Some(v) = check(
                    &candidate_text,
                    self.file,
                    self.runs_dir,
                    self.options,
                    self.hold,
                )
                .await
                    && v.rule == failure.rule
                {
                    usage_protocol::durable::write_file(self.into, candidate_text.as_bytes())?;
                    shrunk.steps += 1;
                    shrunk.text = candidate_text;
                    shrunk.violation = Some(v);
                    table = candidate;
                    continue 'smaller;
                }
            }
            break;
        }
        Ok(shrunk)
    }
}

/// Every one-step-smaller version of a scenario, the largest cuts first.
pub fn candidates(scenario: &Table) -> Vec<Table> {
    let mut out = Vec::new();
    let weeks = scenario
        .get("run")
        .and_then(|r| r.get("weeks"))
        .and_then(Value::as_integer)
        .unwrap_or(1);
    for w in [1, weeks / 2, weeks - 1] {
        if w >= 1 && w < weeks && !out.iter().any(|t: &Table| weeks_of(t) == Some(w)) {
            out.push(with_weeks(scenario, w));
        }
    }
    for key in ["faults", "neighbors"] {
        let n = array(scenario, &[key]).map_or(0, Vec::len);
        for i in 0..n {
            let mut t = scenario.clone();
            array_mut(&mut t, &[key]).expect("present").remove(i);
            out.push(t);
        }
    }
    let primaries = array(scenario, &["hierarchy", "primary"])
        .cloned()
        .unwrap_or_default();
    if primaries.len() > 1 {
        for (i, primary) in primaries.iter().enumerate() {
            let code = primary.get("code").and_then(Value::as_str).unwrap_or("");
            let mut t = scenario.clone();
            array_mut(&mut t, &["hierarchy", "primary"])
                .expect("present")
                .remove(i);
            if let Some(faults) = array_mut(&mut t, &["faults"]) {
                faults.retain(|f| {
                    !f.get("site")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.eq_ignore_ascii_case(code))
                });
            }
            out.push(t);
        }
    }
    for (i, primary) in primaries.iter().enumerate() {
        if let Some(clients) = primary.get("clients").and_then(Value::as_integer)
            && clients > 1
        {
            let mut t = scenario.clone();
            array_mut(&mut t, &["hierarchy", "primary"]).expect("present")[i]
                .as_table_mut()
                .expect("a primary is a table")
                .insert("clients".into(), Value::Integer(clients / 2));
            out.push(t);
        }
    }
    out
}

fn weeks_of(t: &Table) -> Option<i64> {
    t.get("run")?.get("weeks")?.as_integer()
}

/// The scenario cut to `weeks` weeks: faults after them are dropped, windows clamped.
fn with_weeks(scenario: &Table, weeks: i64) -> Table {
    let mut t = scenario.clone();
    if let Some(run) = t.get_mut("run").and_then(Value::as_table_mut) {
        run.insert("weeks".into(), Value::Integer(weeks));
    }
    if let Some(faults) = array_mut(&mut t, &["faults"]) {
        faults.retain_mut(|f| {
            let Some(f) = f.as_table_mut() else {
                return true;
            };
            if let Some(week) = f.get("week").and_then(Value::as_integer) {
                return week <= weeks;
            }
            let window = match f.get("weeks") {
                Some(Value::String(s)) => s.split_once("..=").and_then(|(a, b)| {
                    Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
                }),
                Some(Value::Array(a)) if a.len() == 2 => Some((
                    a[0].as_integer().unwrap_or(1),
                    a[1].as_integer().unwrap_or(1),
                )),
                _ => None,
            };
            match window {
                Some((first, _)) if first > weeks => false,
                Some((first, last)) => {
                    f.insert(
                        "weeks".into(),
                        Value::String(format!("{first}..={}", last.min(weeks))),
                    );
                    true
                }
                None => true,
            }
        });
    }
    t
}

fn array<'a>(t: &'a Table, path: &[&str]) -> Option<&'a Vec<Value>> {
    let (last, parents) = path.split_last()?;
    let mut table = t;
    for p in parents {
        table = table.get(*p)?.as_table()?;
    }
    table.get(*last)?.as_array()
}

fn array_mut<'a>(t: &'a mut Table, path: &[&str]) -> Option<&'a mut Vec<Value>> {
    let (last, parents) = path.split_last()?;
    let mut table = t;
    for p in parents {
        table = table.get_mut(*p)?.as_table_mut()?;
    }
    table.get_mut(*last)?.as_array_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cut_weeks_faults_primaries_and_sizes() {
        let t: Table = toml::from_str(
            r#"
name = "x"
[hierarchy]
cas = true
installed = "2026-01-05"
[[hierarchy.primary]]
code = "P01"
clients = 100
[[hierarchy.primary]]
code = "P02"
clients = 1
[run]
weeks = 4
[[faults]]
kind = "replication_down"
site = "P02"
weeks = "2..=4"
[[faults]]
kind = "scp_down"
week = 4
"#,
        )
        .unwrap();
        let c = candidates(&t);
        // Weeks 1, 2 and 3; each of two faults; each of two primaries; P01's clients halved.
        assert_eq!(c.len(), 3 + 2 + 2 + 1, "{c:#?}");
        let one_week = &c[0];
        assert_eq!(weeks_of(one_week), Some(1));
        assert!(array(one_week, &["faults"]).unwrap().is_empty());
        let three_weeks = &c[2];
        let faults = array(three_weeks, &["faults"]).unwrap();
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0]["weeks"].as_str(), Some("2..=3"));
        // Removing P02 removes the fault that names it.
        let without_p02 = &c[6];
        assert_eq!(
            array(without_p02, &["hierarchy", "primary"]).unwrap().len(),
            1
        );
        assert_eq!(array(without_p02, &["faults"]).unwrap().len(), 1);
        assert_eq!(
            c[7]["hierarchy"]["primary"][0]["clients"].as_integer(),
            Some(50)
        );
    }
}
