//! A kept run's record, so that `harness check` can verify it again without running it:
//! `manifest.json` (the scenario's text, the effective seed, the engine and its facts, the
//! versions the run was made with, the options that matter to verification, and what the stages
//! reported before verification) and `attempts.jsonl` (every upload attempt, one JSON line each).
//!
//! The manifest is written last: a scenario folder with one holds a whole run. Its `format` says
//! how to read it; this harness reads only the [`FORMAT`] it writes.

use serde::{Deserialize, Serialize};
use usage_protocol::client::Attempt;
use usage_protocol::durable;

use crate::finding::Finding;
use crate::layout::ScenarioLayout;
use crate::probes::EngineInfo;
use crate::report::UploadAttempt;
use crate::scenario::Scenario;

/// The version of the record's layout this harness writes and reads.
pub const FORMAT: u32 = 1;

/// The harness's version, as `report.json` states it.
pub const HARNESS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (`unknown` when it was built outside a repository).
pub const GIT_COMMIT: &str = env!("HARNESS_GIT_COMMIT");

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read or written; the message names it.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path}: not a run manifest: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "{path} is format {found}; this harness ({HARNESS_VERSION}) reads format {FORMAT} only: \
         check the run with the harness version that made it"
    )]
    Format { path: String, found: String },
    #[error("{path}:{line}: not an upload attempt: {source}")]
    Attempt {
        path: String,
        line: usize,
        source: serde_json::Error,
    },
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// How to read this record: [`FORMAT`].
    pub format: u32,
    pub harness_version: String,
    pub git_commit: String,
    pub scenario: RecordedScenario,
    /// The seed the run used (the scenario's, or `--seed`).
    pub seed: u64,
    /// The engine the sites ran on, as the report names it.
    pub engine: String,
    /// What the engine said it is (the `TEL_SQLVersion` oracle's input).
    pub engine_info: EngineInfo,
    pub options: RecordedOptions,
    /// What the stages reported before verification: probe errors, budgets, upload failures,
    /// retries and throttling; verification reads them as the run did.
    pub stage_findings: Vec<Finding>,
    /// Hashed IDs of the hierarchies an offline `-connect` carried.
    pub connected: Vec<String>,
}

/// The scenario as the run read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedScenario {
    pub name: String,
    /// The file it was read from, as the report names it.
    pub file: String,
    /// The file's whole text.
    pub text: String,
    /// The directory of the user's probes the run used (`--probes` or `[run] probes_dir`):
    /// `harness check` loads them again from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes_dir: Option<String>,
    /// The digest of those probes' files: `harness check` refuses probes that changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes_digest: Option<String>,
}

/// The command-line options of the run that bear on what it sent and how it is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedOptions {
    /// `--seed`, when given.
    pub seed_override: Option<u64>,
    /// `--engine`, when given.
    pub engine_override: Option<String>,
    /// `--upload-timeout-ms`.
    pub upload_timeout_ms: u64,
}

impl Manifest {
    /// The record of a run of `scenario` (its seed already the effective one).
    pub fn new(
        scenario: &Scenario,
        engine: &str,
        engine_info: &EngineInfo,
        options: RecordedOptions,
    ) -> Self {
        Self {
            format: FORMAT,
            harness_version: HARNESS_VERSION.into(),
            git_commit: GIT_COMMIT.into(),
            scenario: RecordedScenario {
                name: scenario.name.clone(),
                file: scenario.path.display().to_string(),
                text: scenario.text.clone(),
                probes_dir: None,
                probes_digest: None,
            },
            seed: scenario.seed,
            engine: engine.into(),
            engine_info: engine_info.clone(),
            options,
            stage_findings: Vec::new(),
            connected: Vec::new(),
        }
    }
}

/// The channel of an upload: each attempt of an online upload is logged; an offline `-connect`
/// is one request, and its one line stands for the whole upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Online,
    Sct,
}

/// One line of `attempts.jsonl`: one attempt of one upload, with the upload's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptLine {
    /// The upload's place among the run's uploads, from 1.
    pub upload: u32,
    pub week: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
    pub channel: Channel,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Attempts the upload made in all.
    pub attempts: u32,
    pub started_ms: f64,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_after_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The receipt the upload got in the end, when it landed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt: Option<String>,
    /// Why the upload gave up, when it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub upload_error: Option<String>,
    /// The whole upload's time.
    pub upload_ms: f64,
    /// The wait after this attempt before the next (simulated in scenario runs).
    #[serde(default)]
    pub wait_after_ms: f64,
    /// A batch staged in an earlier check, sent again from the outbox.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
    /// When the upload began (seconds since the Unix epoch, wall clock).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub upload_began_at: Option<f64>,
}

/// The lines of `attempts.jsonl` for a run's uploads, in order.
pub fn attempt_lines(uploads: &[UploadAttempt]) -> Vec<AttemptLine> {
    let mut lines = Vec::new();
    for (index, u) in uploads.iter().enumerate() {
        let line = |attempt: &Attempt, channel| AttemptLine {
            upload: index as u32 + 1,
            week: u.week,
            idempotency_key: u.idempotency_key.clone(),
            channel,
            attempt: attempt.number,
            attempts: u.attempts,
            started_ms: attempt.started_ms,
            latency_ms: attempt.latency_ms,
            status: attempt.status,
            retry_after_s: attempt.retry_after_s,
            error: attempt.error.clone(),
            receipt: u.receipt.clone(),
            upload_error: u.error.clone(),
            upload_ms: u.ms,
            wait_after_ms: attempt.wait_after_ms,
            resent: u.resent,
            upload_began_at: u.began_at,
        };
        // An online upload carries its idempotency key; an offline one is the service connection
        // tool's `-connect`, which has none.
        let channel = if u.idempotency_key.is_some() {
            Channel::Online
        } else {
            Channel::Sct
        };
        if u.attempt_log.is_empty() {
            let whole = Attempt {
                number: 1,
                started_ms: 0.0,
                latency_ms: u.ms,
                status: None,
                retry_after_s: None,
                error: u.error.clone(),
                wait_after_ms: 0.0,
            };
            lines.push(line(&whole, channel));
        } else {
            lines.extend(u.attempt_log.iter().map(|a| line(a, channel)));
        }
    }
    lines
}

/// The run's uploads again, from the lines of `attempts.jsonl`.
pub fn uploads_of(lines: &[AttemptLine]) -> Vec<UploadAttempt> {
    let mut uploads: Vec<(u32, UploadAttempt)> = Vec::new();
    for line in lines {
        if uploads.last().is_none_or(|(n, _)| *n != line.upload) {
            uploads.push((
                line.upload,
                UploadAttempt {
                    week: line.week,
                    attempts: line.attempts,
                    ms: line.upload_ms,
                    receipt: line.receipt.clone(),
                    error: line.upload_error.clone(),
                    attempt_log: Vec::new(),
                    idempotency_key: line.idempotency_key.clone(),
                    waited_s: 0.0,
                    resent: line.resent,
                    began_at: line.upload_began_at,
                },
            ));
        }
        if let Some((_, upload)) = uploads.last_mut() {
            upload.attempt_log.push(Attempt {
                number: line.attempt,
                started_ms: line.started_ms,
                latency_ms: line.latency_ms,
                status: line.status,
                retry_after_s: line.retry_after_s,
                error: line.error.clone(),
                wait_after_ms: line.wait_after_ms,
            });
            upload.waited_s += line.wait_after_ms / 1e3;
        }
    }
    uploads.into_iter().map(|(_, u)| u).collect()
}

/// Writes a run's record: `attempts.jsonl`, then `manifest.json` (last: it marks the record
/// whole). Each durably.
pub fn write(
    layout: &ScenarioLayout,
    manifest: &Manifest,
    uploads: &[UploadAttempt],
) -> std::io::Result<()> {
    let mut jsonl = Vec::new();
    for line in attempt_lines(uploads) {
        serde_json::to_writer(&mut jsonl, &line).expect("an attempt serialises");
        jsonl.push(b'\n');
    }
    durable::write_file(&layout.attempts(), &jsonl)?;
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    durable::write_file(&layout.manifest(), &json)
}

/// Reads a kept run's manifest; refuses another [`FORMAT`] than this harness writes.
pub fn read(layout: &ScenarioLayout) -> Result<Manifest, ManifestError> {
    let path = layout.manifest();
    let shown = path.display().to_string();
    let bytes = fs_err::read(&path)?;
    let parse = |source| ManifestError::Parse {
        path: shown.clone(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse)?;
    let format = value.get("format").cloned().unwrap_or_default();
    if format.as_u64() != Some(u64::from(FORMAT)) {
        return Err(ManifestError::Format {
            path: shown,
            found: format.to_string(),
        });
    }
    serde_json::from_value(value).map_err(parse)
}

/// Reads a kept run's uploads back from `attempts.jsonl`.
pub fn read_uploads(layout: &ScenarioLayout) -> Result<Vec<UploadAttempt>, ManifestError> {
    let path = layout.attempts();
    let text = fs_err::read_to_string(&path)?;
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|source| ManifestError::Attempt {
                path: path.display().to_string(),
                line: i + 1,
                source,
            })
        })
        .collect::<Result<Vec<AttemptLine>, _>>()?;
    Ok(uploads_of(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: u32, status: Option<u16>, error: Option<&str>) -> Attempt {
        Attempt {
            number,
            started_ms: f64::from(number) * 10.0,
            latency_ms: 3.5,
            status,
            retry_after_s: (status == Some(429)).then_some(2),
            error: error.map(Into::into),
            wait_after_ms: if number < 3 { 100.0 } else { 0.0 },
        }
    }

    #[test]
    fn uploads_read_back_as_they_were() {
        let uploads = vec![
            UploadAttempt {
                week: 1,
                attempts: 3,
                ms: 40.0,
                receipt: Some("r1".into()),
                error: None,
                attempt_log: vec![
                    attempt(1, Some(503), None),
                    attempt(2, Some(429), None),
                    attempt(3, Some(201), None),
                ],
                idempotency_key: Some("k1".into()),
                waited_s: 0.2,
                resent: true,
                began_at: Some(1_700_000_000.5),
            },
            UploadAttempt {
                week: 2,
                attempts: 1,
                ms: 9.0,
                receipt: None,
                error: Some("-connect refused".into()),
                attempt_log: vec![Attempt {
                    wait_after_ms: 0.0, // a -connect is not retried
                    ..attempt(1, None, Some("-connect refused"))
                }],
                idempotency_key: None,
                waited_s: 0.0,
                resent: false,
                began_at: None,
            },
        ];
        let lines = attempt_lines(&uploads);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2].idempotency_key.as_deref(), Some("k1"));
        assert_eq!(lines[3].channel, Channel::Sct);
        let text: Vec<String> = lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        let parsed: Vec<AttemptLine> = text
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let back = uploads_of(&parsed);
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&uploads).unwrap()
        );
        assert_eq!(back[0].idempotency_key.as_deref(), Some("k1"));
    }
}
