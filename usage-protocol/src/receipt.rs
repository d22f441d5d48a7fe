//! What the service answers for a stored upload; the mock also keeps it on disk as its record.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub id: String,
    pub idempotency_key: String,
    /// Hashed hierarchy ID the upload belongs to.
    pub hierarchy_id: String,
    pub week: u32,
    /// `online` (usage upload) or `sct` (service connection tool connect).
    pub channel: String,
    /// Hex SHA-256 of the decompressed JSON body; decides "same body" for idempotency.
    pub body_sha256: String,
    pub bytes: u64,
    /// When it was stored, as `seconds.nanoseconds` since the Unix epoch.
    pub received_at: String,
}

/// The answer to a usage upload: the receipt, and whether this was a retry of a stored upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadAnswer {
    pub receipt: Receipt,
    pub replayed: bool,
}

/// Lower-case hex SHA-256: how receipts and update-pack offers name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
