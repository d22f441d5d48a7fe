//! The update packs the service offers to a hierarchy (online update check, or the service
//! connection tool's `-connect`).

use serde::{Deserialize, Serialize};

/// What the service tells a client about an applicable pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackOffer {
    pub id: String,
    pub name: String,
    pub version: String,
    pub size: u64,
    pub sha256: String,
    /// Path to download it from, relative to the service's base URL.
    pub download: String,
}

/// The answer to the online update check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateCheckAnswer {
    pub version: String,
    pub update_packs: Vec<PackOffer>,
}

/// A product version as numbers, e.g. `5.00.8540.1000` → `[5, 0, 8540, 1000]`; `None` when it
/// is not one.
pub fn parse_version(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| p.len() == 4)
}
