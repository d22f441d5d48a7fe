//! The product's one-way hash for identifying strings.
//!
//! Configuration Manager never sends an identifying value in clear text at Basic and Enhanced:
//! it sends `base64(SHA-256(bytes))`. The bytes depend on what the value is, because the product
//! hashes typed SQL values: a `uniqueidentifier` is hashed over its in-memory layout, which is
//! .NET's `Guid.ToByteArray()` order (first three fields little-endian), and an `nvarchar` over
//! its UTF-16LE code units. Both dialects' SQL reproduce exactly this function (SQLite through a
//! registered function, T-SQL through `HASHBYTES('SHA2_256', …)`), so a value hashed in SQL and the
//! same value hashed here by an oracle compare equal.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Hashes one identifying value the way the product does.
pub fn tel_hash(value: &str) -> String {
    let digest = match uuid::Uuid::try_parse(value.trim()) {
        Ok(guid) => Sha256::digest(guid.to_bytes_le()),
        _ => {
            let utf16: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
            Sha256::digest(&utf16)
        }
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::tel_hash;

    #[test]
    fn reference_vector_guid() {
        assert_eq!(
            tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14"),
            "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA="
        );
    }

    #[test]
    fn reference_vector_string() {
        assert_eq!(
            tel_hash("CM_P01"),
            "LXTAdW+rr08bhNEX/PI0UDacSYFAJDyF2nDxs+dqiI4="
        );
    }

    #[test]
    fn reference_vector_empty() {
        assert_eq!(tel_hash(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn guid_forms_hash_alike() {
        let plain = tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14");
        assert_eq!(plain, tel_hash("{6F1B3E2A-9C4D-4E7B-8A21-3F5C0D9E7B14}"));
    }
}
