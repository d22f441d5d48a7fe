//! A scenario's fault schedule: the kinds of fault, one scheduled fault, and its window of weeks.

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// The kinds of fault a scenario can schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The upstream answers `status` to the next `count` upload attempts.
    UpstreamStatus,
    /// The upstream waits `ms` before answering the next `count` upload attempts.
    UpstreamLatency,
    /// The upstream answers 429 with `Retry-After: retry_after_s` to the next `count` attempts.
    UpstreamThrottle,
    /// The upstream resets the next `count` connections.
    UpstreamReset,
    /// `site` does not replicate to the CAS during `week`; its rows go up with the next pass.
    ReplicationDown,
    /// An administrator changes the telemetry level to `level` during `week`; it takes effect
    /// from the next weekly run.
    LevelChange,
    /// The week's prepared .cab is damaged on its way to the internet-connected machine.
    CabCorrupted,
    /// The week's prepared .cab is renamed to `to` before `-connect`.
    CabRenamed,
    /// `site`'s database is down during the window: no weekly run and no record there; a down
    /// CAS also receives no replication and uploads nothing.
    SiteDbDown,
    /// The service connection point is down during the window: no upload; the backlog goes
    /// with the first upload after.
    ScpDown,
    /// The upstream stores the next `count` uploads and their answers are lost: the retry gets
    /// the same receipt, and one copy is stored.
    UploadLostAck,
    /// The service connection point restarts between an upload's receipt and marking its rows
    /// delivered: it sends the same batch again first, and nothing arrives twice.
    ScpRestart,
    /// `site`'s replication batch reaches the CAS twice: the CAS keeps one copy.
    ReplicationDuplicate,
    /// The CAS's transaction applying `site`'s batch dies at `at`: nothing of it remains, and
    /// the batch goes again with the next pass.
    ReplicationCrash,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::UpstreamStatus => "upstream_status",
            FaultKind::UpstreamLatency => "upstream_latency",
            FaultKind::UpstreamThrottle => "upstream_throttle",
            FaultKind::UpstreamReset => "upstream_reset",
            FaultKind::ReplicationDown => "replication_down",
            FaultKind::LevelChange => "level_change",
            FaultKind::CabCorrupted => "cab_corrupted",
            FaultKind::CabRenamed => "cab_renamed",
            FaultKind::SiteDbDown => "site_db_down",
            FaultKind::ScpDown => "scp_down",
            FaultKind::UploadLostAck => "upload_lost_ack",
            FaultKind::ScpRestart => "scp_restart",
            FaultKind::ReplicationDuplicate => "replication_duplicate",
            FaultKind::ReplicationCrash => "replication_crash",
        }
    }
}

/// Where a replication transaction dies, for the `replication_crash` fault: after the site-weeks
/// it replaces were deleted, half-way through the rows, or with everything written but the
/// watermark. Wherever it dies, the transaction is abandoned and nothing of it remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    AfterDelete,
    MidRows,
    BeforeWatermark,
}

impl CrashPoint {
    pub const ALL: [CrashPoint; 3] = [
        CrashPoint::AfterDelete,
        CrashPoint::MidRows,
        CrashPoint::BeforeWatermark,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::AfterDelete => "after_delete",
            CrashPoint::MidRows => "mid_rows",
            CrashPoint::BeforeWatermark => "before_watermark",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// One scheduled fault. Fields that a kind does not use are rejected by validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: Spanned<FaultKind>,
    /// The one cycle the fault strikes (or use `weeks`).
    #[serde(default)]
    pub week: Option<Spanned<u32>>,
    /// The cycles the fault strikes, inclusive: `"A..=B"` or `[A, B]`.
    #[serde(default)]
    pub weeks: Option<Spanned<Window>>,
    pub site: Option<Spanned<String>>,
    pub status: Option<Spanned<u16>>,
    pub count: Option<Spanned<u32>>,
    pub ms: Option<Spanned<u64>>,
    pub retry_after_s: Option<Spanned<u64>>,
    pub level: Option<Spanned<String>>,
    /// New file name, for `cab_renamed`.
    pub to: Option<Spanned<String>>,
    /// Where the transaction dies, for `replication_crash`: `after_delete`, `mid_rows` (the
    /// default) or `before_watermark`.
    pub at: Option<Spanned<String>>,
}

impl FaultSpec {
    /// Where a `replication_crash` kills the transaction (validated).
    pub fn crash_point(&self) -> CrashPoint {
        self.at
            .as_ref()
            .and_then(|at| CrashPoint::parse(at.get_ref()))
            .unwrap_or(CrashPoint::MidRows)
    }

    /// How many requests (or connections) it strikes in each cycle of its window.
    pub fn count(&self) -> u32 {
        self.count.as_ref().map_or(1, |c| *c.get_ref())
    }

    /// The cycles it strikes, first and last (validation makes sure one of `week`, `weeks` is
    /// given).
    pub fn window(&self) -> Window {
        match (&self.week, &self.weeks) {
            (Some(week), _) => Window {
                first: *week.get_ref(),
                last: *week.get_ref(),
            },
            (None, Some(weeks)) => *weeks.get_ref(),
            (None, None) => Window { first: 0, last: 0 },
        }
    }

    pub fn strikes(&self, week: u32) -> bool {
        let w = self.window();
        (w.first..=w.last).contains(&week)
    }
}

/// A fault's window of cycles, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: u32,
    pub last: u32,
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Window;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a window of weeks: \"A..=B\" or [A, B] (both included)")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Window, E> {
                let bad = || {
                    E::custom(format!(
                        "`{text}` is not a window of weeks: write \"A..=B\" or [A, B] (both included)"
                    ))
                };
                let (a, b) = text.split_once("..=").ok_or_else(bad)?;
                let first = a.trim().parse().map_err(|_| bad())?;
                let last = b.trim().parse().map_err(|_| bad())?;
                Window::new(first, last).map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Window, A::Error> {
                use serde::de::Error;
                let wrong = || A::Error::custom("a window is two weeks, [A, B]");
                let first: u32 = seq.next_element()?.ok_or_else(wrong)?;
                let last: u32 = seq.next_element()?.ok_or_else(wrong)?;
                if seq.next_element::<u32>()?.is_some() {
                    return Err(wrong());
                }
                Window::new(first, last).map_err(A::Error::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Window {
    fn new(first: u32, last: u32) -> Result<Self, String> {
        if first == 0 || last < first {
            return Err(format!(
                "weeks {first} to {last}: weeks are counted from 1 and the window must not be empty"
            ));
        }
        Ok(Window { first, last })
    }
}
