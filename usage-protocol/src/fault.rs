//! Faults as the admin API takes them: each is a budget ("the next N requests", or connections
//! for resets), so tests decide by counts, not clocks.

use serde::{Deserialize, Serialize};

/// The header a service running on simulated time answers with instead of sleeping through a
/// latency fault: how many milliseconds the answer would have taken. A client on simulated time
/// counts them on its clock (and times out when they exceed its timeout); a real service never
/// sends it.
pub const SIMULATED_LATENCY_HEADER: &str = "simulated-latency-ms";

/// The longest latency a fault may add to an answer: an hour.
pub const MAX_LATENCY_MS: u64 = 3_600_000;
/// The longest wait a throttle fault may ask for in `Retry-After`: a day.
pub const MAX_RETRY_AFTER_S: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer the next `count` requests with `status` and a JSON error.
    Status { status: u16, count: u32 },
    /// Delay the next `count` requests by `ms` before handling them.
    Latency { ms: u64, count: u32 },
    /// Answer the next `count` requests with 429 and `Retry-After: retry_after_s`.
    Throttle { retry_after_s: u64, count: u32 },
    /// Reset (RST) the next `count` connections to the public API, after their request line
    /// (admin calls are never reset).
    Reset { count: u32 },
    /// Store the next `count` usage uploads, then lose their answers: the connection breaks
    /// while the receipt is on its way, so the client retries what is already stored.
    LostAck { count: u32 },
}

impl Fault {
    /// How many more requests (or connections) it strikes.
    pub fn remaining(&self) -> u32 {
        match self {
            Fault::Status { count, .. }
            | Fault::Latency { count, .. }
            | Fault::Throttle { count, .. }
            | Fault::Reset { count }
            | Fault::LostAck { count } => *count,
        }
    }
}
