//! The service connection tool's `-connect`: one multipart request carries every usage cabinet
//! of the transfer folder (field [`CAB_FIELD`], one part per file); the answer names, per
//! cabinet, its receipt and the update packs for its hierarchy.

use serde::{Deserialize, Serialize};

use crate::receipt::Receipt;
use crate::update_pack::PackOffer;

/// The multipart field each cabinet travels in.
pub const CAB_FIELD: &str = "cab";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectResult {
    /// The cabinet's file name as uploaded.
    pub file: String,
    pub hierarchy_id: String,
    pub week: u32,
    pub receipt: Receipt,
    pub replayed: bool,
    pub update_packs: Vec<PackOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectAnswer {
    pub results: Vec<ConnectResult>,
}

/// The key a cabinet is stored under: one per hierarchy and cycle, so a cabinet connected again
/// is recognised, and the receipt names the batch the site staged.
pub fn idempotency_key(hierarchy_id: &str, week: u32) -> String {
    format!("sct/{hierarchy_id}/week/{week}")
}
