//! The update packs the service offers to a hierarchy (online update check, or the service
//! connection tool's `-connect`).

use serde::{Deserialize, Serialize};

/// What the service tells a client about an applicable pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateCheckAnswer {
    pub version: String,
    pub update_packs: Vec<PackOffer>,
}

impl PackOffer {
    /// Whether the offer's id is one a pack can have (`cm-2403`): 1 to 64 letters, digits, `.`,
    /// `_` or `-`, not starting with a dot. A client checks it before the id names anything.
    pub fn has_valid_id(&self) -> bool {
        is_valid_pack_id(&self.id)
    }
}

/// See [`PackOffer::has_valid_id`].
pub fn is_valid_pack_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A product version as numbers, e.g. `5.00.8540.1000` → `[5, 0, 8540, 1000]`; `None` when it
/// is not one.
pub fn parse_version(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| p.len() == 4)
}
