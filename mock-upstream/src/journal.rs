//! The request journal, for test authors in the manner of WireMock's: every request the service
//! answered — method, route, status, latency — kept in order, the oldest dropped past a bound, and
//! read back (filtered, counted) through `GET /admin/requests`.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// The most requests the journal keeps; older ones are dropped (and counted).
pub const JOURNAL_CAPACITY: usize = 10_000;
/// The most bytes of a request's path the journal keeps: a stranger's 64 KiB paths must not make
/// the journal hold hundreds of megabytes.
pub const MAX_JOURNAL_PATH: usize = 256;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JournalEntry {
    /// When the answer was given, seconds since the Unix epoch.
    pub at: f64,
    pub method: String,
    /// The route the request matched (`/v1/updatepacks/{id}`), or `unmatched`.
    pub route: String,
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
}

/// Which requests a reader wants; every field given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub method: Option<String>,
    pub route: Option<String>,
    pub status: Option<u16>,
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            self.method.as_ref().map(|m| format!("method {m}")),
            self.route.as_ref().map(|r| format!("route {r}")),
            self.status.map(|s| format!("status {s}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("anything")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Filter {
    fn matches(&self, e: &JournalEntry) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
            && self.route.as_deref().is_none_or(|r| r == e.route)
            && self.status.is_none_or(|s| s == e.status)
    }
}

#[derive(Default)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<JournalEntry>,
    dropped: u64,
}

impl Journal {
    pub fn record(&self, mut entry: JournalEntry) {
        if entry.path.len() > MAX_JOURNAL_PATH {
            let mut end = MAX_JOURNAL_PATH;
            while !entry.path.is_char_boundary(end) {
                end -= 1;
            }
            entry.path.truncate(end);
            entry.path.push('…');
        }
        let mut inner = self.inner.lock().expect("journal poisoned");
        if inner.entries.len() == JOURNAL_CAPACITY {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
        inner.entries.push_back(entry);
    }

    /// The requests `filter` matches, oldest first, and how many were dropped for room.
    pub fn matching(&self, filter: &Filter) -> (Vec<JournalEntry>, u64) {
        let inner = self.inner.lock().expect("journal poisoned");
        let found = inner
            .entries
            .iter()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect();
        (found, inner.dropped)
    }

    pub fn clear(&self) {
        let mut inner = self.inner.lock().expect("journal poisoned");
        inner.entries.clear();
        inner.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> JournalEntry {
        JournalEntry {
            at: 0.0,
            method: "POST".into(),
            route: "/v1/usage".into(),
            path: "/v1/usage".into(),
            status,
            latency_ms: 1.0,
        }
    }

    #[test]
    fn the_oldest_go_first_and_are_counted() {
        let journal = Journal::default();
        for i in 0..JOURNAL_CAPACITY + 3 {
            journal.record(entry(if i < 3 { 500 } else { 201 }));
        }
        let (all, dropped) = journal.matching(&Filter::default());
        assert_eq!((all.len(), dropped), (JOURNAL_CAPACITY, 3));
        let errors = Filter {
            status: Some(500),
            ..Filter::default()
        };
        assert!(journal.matching(&errors).0.is_empty());
    }
}
