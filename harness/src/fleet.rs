//! Fleet: many hierarchies against one upstream, with real payloads. One scenario is run once
//! through the whole pipeline (its sites seeded once); its weekly uploads are the templates of
//! every hierarchy of the fleet, each under its own hierarchy ID, token and idempotency keys.
//! The fleet's weeks are compressed into wall-clock time at a target rate, every upload goes
//! through the service connection point's own client (retries and all), and against a service
//! with an admin API (the mock) every hierarchy's data is verified to have arrived exactly once,
//! byte for byte.
//!
//! Shared between the hierarchies: the site databases and so every result row and site hash.
//! Their own: the hierarchy ID (and its hash in every payload), the token, the idempotency
//! keys, the uploads and their receipts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use usage_protocol::client::{RetryPolicy, Upstream, Wait};
use usage_protocol::payload::UsagePayload;

use crate::hash::tel_hash;
use crate::layout::RunLayout;
use crate::pipeline::{RunOptions, run_scenario};
use crate::scenario::{Scenario, ScpMode};

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub hierarchies: usize,
    /// A running service; `None` starts the mock in-process.
    pub url: Option<String>,
    /// The admin token of `url` (registration and verification need it).
    pub admin_token: String,
    /// Overrides the scenario's weeks.
    pub weeks: Option<u32>,
    /// Uploads per second to aim at; `None`: as fast as the service takes them.
    pub rate: Option<f64>,
    /// Uploads in flight at once, at most.
    pub connections: usize,
    /// Skip the verification (a service without an admin API the token opens).
    pub verify: bool,
    /// The base run, and the in-process mock's data.
    pub out: PathBuf,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("--hierarchies and --connections must be at least 1")]
    Zero,
    #[error("--rate must be a positive number of uploads per second")]
    Rate,
    #[error(
        "at --rate {rate:.3e} uploads/s the fleet's {uploads} uploads would take {days:.3e} days: at most 30"
    )]
    TooSlow {
        rate: f64,
        uploads: usize,
        days: f64,
    },
    #[error(
        "scenario {0} is offline: a fleet drives online service connection points (its payloads go \
         to the upstream's usage endpoint)"
    )]
    Offline(String),
    #[error("the base run of the scenario: {0}")]
    Base(#[from] crate::pipeline::RunError),
    #[error("the base run sent no upload in {0} week(s): nothing to send for the fleet")]
    NothingSent(u32),
    #[error("reading the base run's payloads: {0}")]
    Io(#[from] std::io::Error),
    #[error("a base payload is not valid: {0}")]
    Payload(#[from] usage_protocol::payload::PayloadError),
    #[error("starting the in-process mock upstream: {0}")]
    Start(#[from] crate::mock::ServerError),
    #[error("upstream: {0}")]
    Upstream(#[from] usage_protocol::client::UpstreamError),
}

/// What a fleet did.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub scenario: String,
    /// This fleet run's ID, from which its hierarchy IDs derive (new on every run).
    pub fleet_id: String,
    pub hierarchies: usize,
    pub weeks: u32,
    /// Uploads per hierarchy (weeks, and parts where a week went in parts).
    pub uploads_per_hierarchy: usize,
    pub uploads: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub target_rate: Option<f64>,
    pub connections: usize,
    pub register_seconds: f64,
    pub upload_seconds: f64,
    pub uploads_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Attempts answered with each status (or `transport` for no answer) that were retried.
    pub retries_by_status: BTreeMap<String, usize>,
    /// Uploads that failed for good, by their last answer (or `transport`, or `not sent`).
    pub failed_by_status: BTreeMap<String, usize>,
    /// Against a service with an admin API: every hierarchy's uploads arrived exactly once, with
    /// the bytes sent.
    pub verified: Option<Verification>,
    /// Why there is no verification (the service's admin API refused or is not there).
    pub not_verified: Option<String>,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub hierarchies_verified: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub altered: usize,
    /// The first few problems, said.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.altered == 0
    }
}

/// One upload of the base run: its week, its part, its payload.
struct Template {
    week: u32,
    part: u32,
    payload: UsagePayload,
}

/// Runs the fleet of `scenario`.
pub async fn run_fleet(
    scenario: &Scenario,
    options: &FleetOptions,
) -> Result<FleetReport, FleetError> {
    let started = Instant::now();
    if options.hierarchies == 0 || options.connections == 0 {
        return Err(FleetError::Zero);
    }
    if options.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(FleetError::Rate);
    }
    if scenario.hierarchy.scp_mode == ScpMode::Offline {
        return Err(FleetError::Offline(scenario.name.clone()));
    }
    let mut scenario = scenario.clone();
    if let Some(weeks) = options.weeks {
        scenario.run.weeks = toml::Spanned::new(0..0, weeks);
    }
    let weeks = *scenario.run.weeks.get_ref();
    // Shared, as they are, by every upload worker.
    let templates: Arc<[Template]> = base_run(&scenario, options).await?.into();
    if templates.is_empty() {
        return Err(FleetError::NothingSent(weeks));
    }
    let uploads = options.hierarchies * templates.len();
    if let Some(rate) = options.rate {
        let days = uploads as f64 / rate / 86_400.0;
        if days > 30.0 {
            return Err(FleetError::TooSlow {
                rate,
                uploads,
                days,
            });
        }
    }

    let mut server = None;
    let (url, admin) = match &options.url {
        Some(url) => (
            url.trim_end_matches('/').to_string(),
            options.admin_token.clone(),
        ),
        None => {
            let s = crate::mock::start(&options.out.join("fleet-upstream"), false).await?;
            let pair = (s.base_url(), s.admin_token().to_string());
            server = Some(s);
            pair
        }
    };
    let upstream = Arc::new(Upstream::new(
        &url,
        &admin,
        RetryPolicy {
            first_backoff: Duration::from_millis(50),
            wait: Wait::Sleep,
            ..RetryPolicy::default()
        },
    ));
    let bar = progress_bar(options.progress, options.hierarchies as u64, "register");
    let t = Instant::now();
    // Each fleet run has hierarchies of its own: a second run against the same service must not
    // collide with the first's idempotency keys.
    let fleet_id = uuid::Uuid::new_v4().simple().to_string();
    let fleet: Vec<Member> = register_all(&upstream, &fleet_id, options, &bar).await?;
    let register_seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let bar = progress_bar(options.progress, uploads as u64, "upload");
    let t = Instant::now();
    let results = upload_all(&upstream, &fleet, &templates, options, &bar).await;
    let upload_seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // A service at --url may have no admin API the token opens: the load is still measured.
    let (verified, not_verified) = if !options.verify {
        (None, Some("--no-verify".to_string()))
    } else {
        match verify(&upstream, &fleet, &templates, &results).await {
            Ok(v) => (Some(v), None),
            Err(e) if options.url.is_some() => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        }
    };
    if let Some(s) = server {
        s.stop().await;
    }
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.latency).collect();
    latencies.sort();
    let mut retries_by_status = BTreeMap::new();
    for r in &results {
        for status in &r.retried {
            *retries_by_status.entry(status.clone()).or_insert(0) += 1;
        }
    }
    let succeeded = results.iter().filter(|r| r.receipt.is_some()).count();
    let mut failed_by_status = BTreeMap::new();
    for r in results.iter().filter(|r| r.receipt.is_none()) {
        *failed_by_status.entry(r.last_status.clone()).or_insert(0) += 1;
    }
    if uploads > results.len() {
        failed_by_status.insert("not sent".to_string(), uploads - results.len());
    }
    Ok(FleetReport {
        scenario: scenario.name.clone(),
        fleet_id,
        hierarchies: fleet.len(),
        weeks,
        uploads_per_hierarchy: templates.len(),
        uploads,
        succeeded,
        failed: uploads - succeeded,
        target_rate: options.rate,
        connections: options.connections,
        register_seconds,
        upload_seconds,
        uploads_per_s: uploads as f64 / upload_seconds.max(1e-9),
        p50_ms: crate::load::percentile(&latencies, 50.0),
        p90_ms: crate::load::percentile(&latencies, 90.0),
        p99_ms: crate::load::percentile(&latencies, 99.0),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        retries_by_status,
        failed_by_status,
        verified,
        not_verified,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs the scenario once, end to end, and returns what it uploaded, week by week.
async fn base_run(
    scenario: &Scenario,
    options: &FleetOptions,
) -> Result<Vec<Template>, FleetError> {
    let run = RunOptions {
        progress: options.progress,
        ..RunOptions::simulated(options.out.join("base"))
    };
    run_scenario(scenario, &run).await?;
    let layout = RunLayout::new(&run.out)
        .scenario(&scenario.name)
        .hierarchy("");
    let mut templates = Vec::new();
    for week in 1..=*scenario.run.weeks.get_ref() {
        for part in 1.. {
            let path = layout.payload_part(week, part);
            match fs_err::read(&path) {
                Ok(json) => templates.push(Template {
                    week,
                    part,
                    payload: UsagePayload::from_json(&json)?,
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(templates)
}

/// A hierarchy of the fleet.
struct Member {
    hash: String,
    token: String,
}

/// A member's hierarchy ID: from the fleet run's own ID and the member's number.
fn member_id(fleet_id: &str, index: usize) -> String {
    let name = format!("fleet/{fleet_id}/{index}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

async fn register_all(
    upstream: &Arc<Upstream>,
    fleet_id: &str,
    options: &FleetOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Member>, FleetError> {
    let hashes: Arc<Vec<String>> = Arc::new(
        (0..options.hierarchies)
            .map(|i| tel_hash(&member_id(fleet_id, i)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.connections.min(options.hierarchies) {
        let (upstream, next, bar, hashes) =
            (upstream.clone(), next.clone(), bar.clone(), hashes.clone());
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(hash) = hashes.get(i) else {
                    return Ok::<_, FleetError>(mine);
                };
                let token = upstream.register(hash).await?;
                mine.push((
                    i,
                    Member {
                        hash: hash.clone(),
                        token,
                    },
                ));
                bar.inc(1);
            }
        });
    }
    let mut all = Vec::with_capacity(options.hierarchies);
    while let Some(done) = workers.join_next().await {
        all.extend(done.map_err(std::io::Error::other)??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, m)| m).collect())
}

/// One upload of the fleet, as it went.
#[derive(Clone)]
struct Sent {
    member: usize,
    key: String,
    sha256: String,
    latency: Duration,
    receipt: Option<String>,
    /// The status of each attempt that was retried (`transport` when there was no answer).
    retried: Vec<String>,
    /// The status of the last attempt.
    last_status: String,
}

/// Every hierarchy's uploads, week by week: upload `k` (week-major) starts no earlier than
/// `k / rate` seconds in, so a fleet's weeks pass at the target rate.
async fn upload_all(
    upstream: &Arc<Upstream>,
    fleet: &[Member],
    templates: &Arc<[Template]>,
    options: &FleetOptions,
    bar: &indicatif::ProgressBar,
) -> Vec<Sent> {
    let fleet: Arc<Vec<(String, String)>> = Arc::new(
        fleet
            .iter()
            .map(|m| (m.hash.clone(), m.token.clone()))
            .collect(),
    );
    let total = fleet.len() * templates.len();
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.connections.min(total) {
        let (upstream, fleet, templates, next, bar) = (
            upstream.clone(),
            fleet.clone(),
            templates.clone(),
            next.clone(),
            bar.clone(),
        );
        let rate = options.rate;
        workers.spawn(async move {
            let mut sent = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    return sent;
                }
                let (member, template) = (k % fleet.len(), k / fleet.len());
                let (hash, token) = &fleet[member];
                let Template {
                    week,
                    part,
                    payload,
                } = &templates[template];
                let mut payload = payload.clone();
                payload.hierarchy_id = hash.clone();
                let (json, gzip) = crate::payload::encode(&payload);
                let key = crate::payload::idempotency_key(hash, *week, *part);
                if let Some(rate) = rate {
                    // Bounded by `run_fleet`: the whole schedule fits in 30 days.
                    let at = Duration::try_from_secs_f64(k as f64 / rate).unwrap_or(Duration::MAX);
                    tokio::time::sleep_until(start + at).await;
                }
                let t = Instant::now();
                let outcome = upstream.upload_usage_logged(token, &key, gzip).await;
                let latency = t.elapsed();
                let status = |a: &usage_protocol::client::Attempt| {
                    a.status.map_or("transport".to_string(), |s| s.to_string())
                };
                let retried = outcome.attempts[..outcome.attempts.len().saturating_sub(1)]
                    .iter()
                    .map(status)
                    .collect();
                let last_status = outcome.attempts.last().map_or("not sent".into(), status);
                sent.push(Sent {
                    member,
                    key,
                    sha256: usage_protocol::receipt::sha256_hex(&json),
                    latency,
                    receipt: outcome.result.ok().map(|r| r.receipt.id),
                    retried,
                    last_status,
                });
                bar.inc(1);
            }
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(done) = workers.join_next().await {
        // A worker that died took its uploads with it: they count as not sent, and the
        // verification, which expects every upload, finds them missing.
        match done {
            Ok(sent) => all.extend(sent),
            Err(e) => tracing::error!("a fleet upload worker failed: {e}"),
        }
    }
    all
}

/// Every upload sent arrived exactly once under its hierarchy and key, with the bytes sent.
async fn verify(
    upstream: &Upstream,
    fleet: &[Member],
    templates: &[Template],
    sent: &[Sent],
) -> Result<Verification, FleetError> {
    let mut stored: Stored = HashMap::new();
    for receipt in upstream.receipts().await? {
        stored
            .entry((receipt.hierarchy_id, receipt.idempotency_key))
            .or_default()
            .push(receipt.body_sha256);
    }
    let parts: Vec<(u32, u32)> = templates.iter().map(|t| (t.week, t.part)).collect();
    Ok(judge(&stored, fleet, &parts, sent))
}

/// What the upstream holds: (hierarchy hash, idempotency key) → the SHA-256 of each body stored.
type Stored = HashMap<(String, String), Vec<String>>;

/// Judges every upload the fleet should have made, (week, part) of each template for each
/// member: one sent but not stored, stored twice or with other bytes, or never sent at all, is
/// a problem.
fn judge(stored: &Stored, fleet: &[Member], parts: &[(u32, u32)], sent: &[Sent]) -> Verification {
    let sent: HashMap<(usize, &str), &str> = sent
        .iter()
        .map(|s| ((s.member, s.key.as_str()), s.sha256.as_str()))
        .collect();
    let mut v = Verification {
        hierarchies_verified: 0,
        missing: 0,
        duplicated: 0,
        altered: 0,
        problems: Vec::new(),
    };
    let mut bad_members = std::collections::BTreeSet::new();
    for (member, m) in fleet.iter().enumerate() {
        for (week, part) in parts {
            let key = crate::payload::idempotency_key(&m.hash, *week, *part);
            let stored = stored
                .get(&(m.hash.clone(), key.clone()))
                .map(Vec::as_slice);
            let problem = match (sent.get(&(member, key.as_str())), stored) {
                (None, _) => {
                    v.missing += 1;
                    Some("never sent")
                }
                (Some(_), None | Some([])) => {
                    v.missing += 1;
                    Some("missing")
                }
                (Some(sha), Some([one])) if one == sha => None,
                (Some(_), Some([_])) => {
                    v.altered += 1;
                    Some("stored with other bytes than were sent")
                }
                (Some(_), Some(_)) => {
                    v.duplicated += 1;
                    Some("stored more than once")
                }
            };
            if let Some(problem) = problem {
                bad_members.insert(member);
                if v.problems.len() < 10 {
                    v.problems.push(format!(
                        "hierarchy {member} week {week} part {part} (key {key}): {problem}"
                    ));
                }
            }
        }
    }
    v.hierarchies_verified = fleet.len() - bad_members.len();
    v
}

fn progress_bar(shown: bool, len: u64, what: &str) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "fleet {what} {{bar:30}} {{pos}}/{{len}} ({{per_sec}}, {{elapsed}})"
        ))
        .expect("valid template"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(member: usize, hash: &str, sha: &str) -> Sent {
        Sent {
            member,
            key: crate::payload::idempotency_key(hash, 1, 1),
            sha256: sha.into(),
            latency: Duration::ZERO,
            receipt: Some("r".into()),
            retried: Vec::new(),
            last_status: "201".into(),
        }
    }

    #[test]
    fn verification_tells_missing_duplicated_altered_and_unsent_uploads() {
        let fleet: Vec<Member> = (0..5)
            .map(|i| Member {
                hash: format!("h{i}"),
                token: format!("t{i}"),
            })
            .collect();
        let key = |h: &str| crate::payload::idempotency_key(h, 1, 1);
        // h4's upload was never sent (its worker died).
        let sends = vec![
            sent(0, "h0", "a"),
            sent(1, "h1", "b"),
            sent(2, "h2", "c"),
            sent(3, "h3", "d"),
        ];
        let mut stored: Stored = HashMap::new();
        stored.insert(("h0".into(), key("h0")), vec!["a".into()]);
        stored.insert(("h1".into(), key("h1")), vec!["b".into(), "b".into()]);
        stored.insert(("h2".into(), key("h2")), vec!["other".into()]);
        // h3's upload is missing: the same key under another hierarchy does not count.
        stored.insert(("h0".into(), key("h3")), vec!["d".into()]);
        let v = judge(&stored, &fleet, &[(1, 1)], &sends);
        assert_eq!((v.missing, v.duplicated, v.altered), (2, 1, 1), "{v:?}");
        assert_eq!(v.hierarchies_verified, 1);
        assert!(!v.ok());
        stored.insert(("h1".into(), key("h1")), vec!["b".into()]);
        stored.insert(("h2".into(), key("h2")), vec!["c".into()]);
        stored.insert(("h3".into(), key("h3")), vec!["d".into()]);
        let v = judge(&stored, &fleet, &[(1, 1)], &sends);
        assert_eq!(v.missing, 1, "h4 was never sent: {v:?}");
        let mut all = sends.clone();
        all.push(sent(4, "h4", "e"));
        stored.insert(("h4".into(), key("h4")), vec!["e".into()]);
        let v = judge(&stored, &fleet, &[(1, 1)], &all);
        assert!(v.ok() && v.hierarchies_verified == 5, "{v:?}");
    }
}
