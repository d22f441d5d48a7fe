//! Faults programmed through the admin API, applied to the client-facing endpoints.
//!
//! Each fault is a budget: "the next N requests" (or connections, for resets). Tests program a
//! fault, drive the client and then look at what was stored, so budgets, not clocks, decide.

use std::sync::Mutex;
use std::time::Duration;

use usage_protocol::fault::Fault;

/// What a request must suffer before it is handled.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Injection {
    pub delay: Option<Duration>,
    pub status: Option<u16>,
    pub retry_after_s: Option<u64>,
}

#[derive(Default)]
pub struct Faults {
    state: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn add(&self, fault: Fault) {
        self.lock().push(fault);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn pending(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Consumes one unit of every request-level fault that is still due.
    pub fn next_request(&self) -> Injection {
        let mut injection = Injection::default();
        let mut faults = self.lock();
        for fault in faults.iter_mut() {
            match fault {
                Fault::Latency { ms, count } if *count > 0 && injection.delay.is_none() => {
                    *count -= 1;
                    injection.delay = Some(Duration::from_millis(*ms));
                }
                Fault::Status { status, count } if *count > 0 && injection.status.is_none() => {
                    *count -= 1;
                    injection.status = Some(*status);
                }
                Fault::Throttle {
                    retry_after_s,
                    count,
                } if *count > 0 && injection.status.is_none() => {
                    *count -= 1;
                    injection.status = Some(429);
                    injection.retry_after_s = Some(*retry_after_s);
                }
                _ => {}
            }
        }
        faults.retain(|f| !exhausted(f));
        injection
    }

    /// True when the connection just opened (to the public API) must be reset.
    pub fn next_connection(&self) -> bool {
        let mut faults = self.lock();
        let reset = faults.iter_mut().find_map(|f| match f {
            Fault::Reset { count } if *count > 0 => {
                *count -= 1;
                Some(())
            }
            _ => None,
        });
        faults.retain(|f| !exhausted(f));
        reset.is_some()
    }

    /// True when the answer to the upload just stored must be lost.
    pub fn next_answer_lost(&self) -> bool {
        let mut faults = self.lock();
        let lost = faults.iter_mut().find_map(|f| match f {
            Fault::LostAck { count } if *count > 0 => {
                *count -= 1;
                Some(())
            }
            _ => None,
        });
        faults.retain(|f| !exhausted(f));
        lost.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.state.lock().expect("fault state poisoned")
    }
}

fn exhausted(fault: &Fault) -> bool {
    fault.remaining() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_run_out() {
        let faults = Faults::default();
        faults.add(Fault::Status {
            status: 503,
            count: 2,
        });
        assert_eq!(faults.next_request().status, Some(503));
        assert_eq!(faults.next_request().status, Some(503));
        assert_eq!(faults.next_request(), Injection::default());
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn resets_count_connections_not_requests() {
        let faults = Faults::default();
        faults.add(Fault::Reset { count: 1 });
        assert_eq!(faults.next_request(), Injection::default());
        assert!(faults.next_connection());
        assert!(!faults.next_connection());
    }
}
