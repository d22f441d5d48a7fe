//! The oracles' facts about a site.

use std::collections::BTreeMap;

use super::rows::*;

/// What the oracles need to know about a site, accumulated while its rows stream past so that
/// no probe's expectation needs the rows themselves. Everything here is small: counts by
/// category, never per-client data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFacts {
    pub clients: u64,
    pub client_versions: BTreeMap<String, u64>,
    pub os_versions: BTreeMap<(String, String), u64>,
    /// (branch, build) → clients, for Windows 10 and 11 clients.
    pub windows_builds: BTreeMap<(u8, u32), u64>,
    /// technology → (applications with at least one such deployment type, deployment types)
    pub technologies: BTreeMap<String, (u64, u64)>,
    pub applications: u64,
    /// application → the application that supersedes it
    pub superseded_by: BTreeMap<i64, i64>,
    pub application_ids: Vec<i64>,
    /// MSI product code → deployment types installing it
    pub msi_product_codes: BTreeMap<String, u64>,
    /// (action, purpose, target) → deployments
    pub app_deployments: BTreeMap<(String, String, String), u64>,
    /// collection ID → type (1 user, 2 device)
    pub collection_types: BTreeMap<String, u8>,
    /// type → (collections, members)
    pub collections_by_type: BTreeMap<u8, (u64, u64)>,
    /// collections some application or update group is deployed to
    pub deployed_collections: std::collections::BTreeSet<String>,
    pub boundary_groups: u64,
    pub boundary_groups_without_site_systems: u64,
    pub boundaries_by_type: BTreeMap<String, u64>,
    /// members of each software update group
    pub update_group_sizes: Vec<u64>,
    /// (severity, expired) → updates
    pub update_catalog: BTreeMap<(u8, bool), u64>,
    /// update CI_ID → severity, to attribute compliance rows
    pub update_severity: BTreeMap<i64, u8>,
    /// (severity, status) → compliance rows
    pub compliance: BTreeMap<(u8, u8), u64>,
    pub error_codes: BTreeMap<i64, u64>,
    pub activity_days: BTreeMap<u32, u64>,
    pub bios_dates: BTreeMap<chrono::NaiveDate, u64>,
    pub os_install_dates: BTreeMap<chrono::NaiveDate, u64>,
    /// (UEFI, Secure Boot, TPM) → clients
    pub firmware: BTreeMap<(bool, bool, bool), u64>,
    pub virtual_machines: u64,
    pub ep_states: BTreeMap<u8, u64>,
    pub cpus: BTreeMap<String, u64>,
    /// product table → rows, for the largest-tables probe
    pub table_rows: BTreeMap<&'static str, u64>,
    pub custom_tables: Vec<String>,
    pub rows_generated: u64,
}

/// One more of `key`; its name is copied only the first time (a site's clients share a few
/// dozen names, and a copy per client was a tenth of the generator's time).
fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl SiteFacts {
    pub fn observe_client(&mut self, c: &Client) {
        self.clients += 1;
        count(&mut self.client_versions, &c.client_version);
        *self
            .os_versions
            .entry((c.os_caption.clone(), c.os.version.into()))
            .or_default() += 1;
        if let Some(branch) = c.branch {
            *self.windows_builds.entry((branch, c.os.build)).or_default() += 1;
        }
        *self.activity_days.entry(c.last_active_days).or_default() += 1;
        *self.bios_dates.entry(c.bios_date).or_default() += 1;
        *self.os_install_dates.entry(c.os_install_date).or_default() += 1;
        *self
            .firmware
            .entry((c.uefi, c.secure_boot, c.tpm))
            .or_default() += 1;
        self.virtual_machines += u64::from(c.is_virtual);
        *self.ep_states.entry(c.ep_state).or_default() += 1;
        count(&mut self.cpus, &c.cpu);
        *self.table_rows.entry("System_DISC").or_default() += 1;
    }

    /// A batch of compliance states, of any clients and updates (the table's rows are counted
    /// once a batch, not once a row: it keeps this off the seeding's critical path).
    pub fn observe_compliance(&mut self, states: &[Compliance]) {
        if states.is_empty() {
            return;
        }
        // A batch's states fall in a few (severity, status) pairs: counted here first, then
        // added to the site's map once a pair.
        let mut pairs: Vec<((u8, u8), u64)> = Vec::with_capacity(8);
        for state in states {
            let severity = self
                .update_severity
                .get(&state.update_ci_id)
                .copied()
                .unwrap_or_default();
            let pair = (severity, state.status);
            match pairs.iter_mut().find(|(p, _)| *p == pair) {
                Some((_, n)) => *n += 1,
                None => pairs.push((pair, 1)),
            }
            if let Some(code) = state.error_code {
                *self.error_codes.entry(code).or_default() += 1;
            }
        }
        for (pair, n) in pairs {
            *self.compliance.entry(pair).or_default() += n;
        }
        *self
            .table_rows
            .entry("Update_ComplianceStatus")
            .or_default() += states.len() as u64;
    }

    pub fn observe_application(&mut self, app: &Application) {
        self.applications += 1;
        self.application_ids.push(app.ci_id);
        if let Some(newer) = app.superseded_by {
            self.superseded_by.insert(app.ci_id, newer);
        }
        *self.table_rows.entry("CI_Applications").or_default() += 1;
        let mut seen = std::collections::BTreeSet::new();
        for dt in &app.deployment_types {
            let entry = self.technologies.entry(dt.technology.into()).or_default();
            entry.1 += 1;
            if seen.insert(dt.technology) {
                entry.0 += 1;
            }
            if let Some(code) = &dt.product_code {
                *self.msi_product_codes.entry(code.clone()).or_default() += 1;
            }
            *self.table_rows.entry("CI_DeploymentTypes").or_default() += 1;
        }
    }

    pub fn observe_collection(&mut self, c: &Collection) {
        self.collection_types
            .insert(c.collection_id.clone(), c.collection_type);
        let entry = self
            .collections_by_type
            .entry(c.collection_type)
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(c.member_count);
        *self.table_rows.entry("Collections").or_default() += 1;
    }

    pub fn observe_app_deployment(&mut self, d: &AppDeployment) {
        let target = match self.collection_types.get(&d.collection_id) {
            Some(1) => "user",
            _ => "device",
        };
        *self
            .app_deployments
            .entry((d.action.into(), d.purpose.into(), target.into()))
            .or_default() += 1;
        self.deployed_collections.insert(d.collection_id.clone());
        *self.table_rows.entry("CI_AppDeployments").or_default() += 1;
    }

    pub fn observe_update(&mut self, u: &SoftwareUpdate) {
        *self
            .update_catalog
            .entry((u.severity, u.is_expired))
            .or_default() += 1;
        self.update_severity.insert(u.ci_id, u.severity);
        *self.table_rows.entry("CI_SoftwareUpdates").or_default() += 1;
    }

    pub fn observe_update_group(&mut self, g: &UpdateGroup) {
        self.update_group_sizes.push(g.members.len() as u64);
        self.deployed_collections
            .extend(g.deployed_to.iter().cloned());
        *self.table_rows.entry("CI_UpdateGroups").or_default() += 1;
        *self.table_rows.entry("CI_UpdateGroupMembers").or_default() += g.members.len() as u64;
        *self.table_rows.entry("UpdateDeployments").or_default() += g.deployed_to.len() as u64;
    }

    pub fn observe_boundary_group(&mut self, g: &BoundaryGroup) {
        self.boundary_groups += 1;
        self.boundary_groups_without_site_systems += u64::from(g.site_systems == 0);
        for b in &g.boundaries {
            *self
                .boundaries_by_type
                .entry(b.boundary_type.into())
                .or_default() += 1;
        }
        *self.table_rows.entry("BoundaryGroups").or_default() += 1;
        *self.table_rows.entry("Boundaries").or_default() += g.boundaries.len() as u64;
    }
}
