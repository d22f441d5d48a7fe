//! The bounds of a primary site's data counts. Up to `supported` a count is what large real
//! sites have (the synthetic model is calibrated there); above it, up to `hard_cap`, the run
//! goes ahead and its report says it is beyond support (`beyond_supported_scale`); past the hard
//! cap the scenario is refused, so no count can ask the generator for more memory than the
//! machine has.

use toml::Spanned;

use super::PrimarySpec;

/// One count's bounds.
#[derive(Debug, Clone, Copy)]
pub struct CountBound {
    /// The key under `[[hierarchy.primary]]`.
    pub key: &'static str,
    pub supported: u32,
    pub hard_cap: u32,
    count: fn(&PrimarySpec) -> &Spanned<u32>,
}

impl CountBound {
    pub fn of<'a>(&self, site: &'a PrimarySpec) -> &'a Spanned<u32> {
        (self.count)(site)
    }
}

/// Every bounded count of a primary site (`clients` has the product's own maxima).
pub const COUNT_BOUNDS: [CountBound; 7] = [
    CountBound {
        key: "apps",
        supported: 10_000,
        hard_cap: 100_000,
        count: |p| &p.apps,
    },
    CountBound {
        key: "updates",
        supported: 50_000,
        hard_cap: 500_000,
        count: |p| &p.updates,
    },
    CountBound {
        key: "updates_per_client",
        supported: 500,
        hard_cap: 2_000,
        count: |p| &p.updates_per_client,
    },
    CountBound {
        key: "collections",
        supported: 10_000,
        hard_cap: 100_000,
        count: |p| &p.collections,
    },
    CountBound {
        key: "custom_tables",
        supported: 200,
        hard_cap: 2_000,
        count: |p| &p.custom_tables,
    },
    CountBound {
        key: "boundary_groups",
        supported: 10_000,
        hard_cap: 100_000,
        count: |p| &p.boundary_groups,
    },
    CountBound {
        key: "update_groups",
        supported: 1_000,
        hard_cap: 10_000,
        count: |p| &p.update_groups,
    },
];

/// The most rows one site may be seeded with: 175,000 clients with 500 compliance states each is
/// about 88 million; past this a site would take hours and tens of gigabytes.
pub const MAX_ROWS_PER_SITE: u64 = 100_000_000;

/// A site's counts, as the row estimate needs them.
#[derive(Debug, Clone, Copy)]
pub struct SiteCounts {
    pub clients: u32,
    pub apps: u32,
    pub updates: u32,
    pub updates_per_client: u32,
    pub collections: u32,
    pub custom_tables: u32,
    pub boundary_groups: u32,
    pub update_groups: u32,
}

impl SiteCounts {
    pub fn of(p: &PrimarySpec) -> Self {
        Self {
            clients: *p.clients.get_ref(),
            apps: *p.apps.get_ref(),
            updates: *p.updates.get_ref(),
            updates_per_client: *p.updates_per_client.get_ref(),
            collections: *p.collections.get_ref(),
            custom_tables: *p.custom_tables.get_ref(),
            boundary_groups: *p.boundary_groups.get_ref(),
            update_groups: *p.update_groups.get_ref(),
        }
    }

    /// The rows these counts ask for (clients, compliance states, the catalogs).
    pub fn estimated_rows(&self) -> u64 {
        let updates = u64::from(self.updates);
        let per_client = u64::from(self.updates_per_client).min(updates);
        u64::from(self.clients) * (1 + per_client)
            + u64::from(self.apps) * 3
            + u64::from(self.collections)
            + updates
            + u64::from(self.custom_tables) * 5
            + u64::from(self.boundary_groups)
            + u64::from(self.update_groups)
    }
}

/// The counts of `site` above what is supported, as `key = value (supported: N)`. A count is
/// judged by what the generator makes of it: `updates_per_client` above the catalog's `updates`
/// gives each client the whole catalog, no more, so 2,000 a client of 20 updates is 20.
pub fn beyond_support(site: &PrimarySpec) -> Vec<String> {
    let effective = |b: &CountBound| {
        let count = *b.of(site).get_ref();
        if b.key == "updates_per_client" {
            count.min(*site.updates.get_ref())
        } else {
            count
        }
    };
    COUNT_BOUNDS
        .iter()
        .filter(|b| effective(b) > b.supported)
        .map(|b| {
            format!(
                "{} = {} (supported up to {})",
                b.key,
                b.of(site).get_ref(),
                b.supported
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn primary(counts: &str) -> PrimarySpec {
        let text = format!(
            "name = \"bounds\"\nseed = 1\n[hierarchy]\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = 10\n{counts}\n"
        );
        let scenario = Scenario::parse(&text, std::path::Path::new("bounds.toml")).unwrap();
        scenario.hierarchy.primary[0].clone()
    }

    #[test]
    fn updates_per_client_is_judged_by_what_the_catalog_gives() {
        assert!(beyond_support(&primary("updates = 20\nupdates_per_client = 2000")).is_empty());
        assert_eq!(
            beyond_support(&primary("updates = 1000\nupdates_per_client = 2000")),
            ["updates_per_client = 2000 (supported up to 500)"]
        );
        assert_eq!(
            beyond_support(&primary("updates = 60000\nupdates_per_client = 20")),
            ["updates = 60000 (supported up to 50000)"]
        );
    }
}
