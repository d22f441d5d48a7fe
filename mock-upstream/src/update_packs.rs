//! The catalog of update packs the service offers, shipped as data (`data/update-packs.json`).
//! A pack applies to a site whose product version is at least its `min_version` and below the
//! version it installs. Pack contents are synthetic but deterministic, with a SHA-256 the client
//! can verify.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use usage_protocol::update_pack::{PackOffer, parse_version};

const CATALOG: &str = include_str!("../data/update-packs.json");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePack {
    pub id: String,
    pub name: String,
    /// The product version the pack installs.
    pub version: String,
    /// The lowest product version it can be applied to.
    pub min_version: String,
    pub size_kb: u32,
}

pub struct Catalog {
    packs: Vec<UpdatePack>,
}

impl Catalog {
    pub fn shipped() -> Self {
        let packs: Vec<UpdatePack> =
            serde_json::from_str(CATALOG).expect("the shipped catalog is valid");
        Self { packs }
    }

    /// Packs applicable to a site at `version`, oldest first; `None` when `version` is not a
    /// product version.
    pub fn applicable(&self, version: &str) -> Option<Vec<PackOffer>> {
        let current = parse_version(version)?;
        let mut offers: Vec<(Vec<u32>, PackOffer)> = self
            .packs
            .iter()
            .filter(|p| {
                let (min, to) = (parse_version(&p.min_version), parse_version(&p.version));
                min.is_some_and(|m| m <= current) && to.is_some_and(|t| current < t)
            })
            .map(|p| (parse_version(&p.version).unwrap_or_default(), self.offer(p)))
            .collect();
        offers.sort_by(|a, b| a.0.cmp(&b.0));
        Some(offers.into_iter().map(|(_, o)| o).collect())
    }

    pub fn get(&self, id: &str) -> Option<&UpdatePack> {
        self.packs.iter().find(|p| p.id == id)
    }

    fn offer(&self, pack: &UpdatePack) -> PackOffer {
        let content = content(pack);
        PackOffer {
            id: pack.id.clone(),
            name: pack.name.clone(),
            version: pack.version.clone(),
            size: content.len() as u64,
            sha256: usage_protocol::sha256_hex(&content),
            download: format!("/v1/updatepacks/{}", pack.id),
        }
    }
}

/// The bytes of a pack: a manifest line followed by deterministic filler up to its size.
pub fn content(pack: &UpdatePack) -> Vec<u8> {
    let mut out = format!("update-pack {} {} {}\n", pack.id, pack.version, pack.name).into_bytes();
    let target = pack.size_kb as usize * 1024;
    let mut block = Sha256::digest(pack.id.as_bytes());
    while out.len() < target {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    if out.len() > target {
        out.truncate(target);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applicability_follows_versions() {
        let catalog = Catalog::shipped();
        let ids = |v: &str| {
            catalog
                .applicable(v)
                .unwrap()
                .into_iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("5.00.8540.1000"), vec!["cm-2207"]);
        assert_eq!(ids("5.00.9122.1000"), vec!["cm-2403", "cm-2409", "cm-2503"]);
        assert!(ids("5.00.9135.1000").is_empty());
        assert!(catalog.applicable("nonsense").is_none());
    }

    #[test]
    fn content_is_deterministic_and_sized() {
        let catalog = Catalog::shipped();
        let pack = catalog.get("cm-2403").unwrap();
        assert_eq!(content(pack), content(pack));
        assert_eq!(content(pack).len(), 64 * 1024);
    }
}
