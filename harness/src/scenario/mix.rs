//! `[hierarchy.primary.mix]`: the shape of a primary's clients — what their inventory says, in
//! what shares. Every field is optional; a field left out is drawn from the default mix.

use std::collections::BTreeMap;

use serde::Deserialize;

/// As written in the scenario: weights (positive integers, apportioned exactly over the site's
/// clients) or percentages (0–100).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixSpec {
    /// Client agent version → weight.
    #[serde(default)]
    pub client_versions: BTreeMap<String, u32>,
    /// `"caption|version"` → weight, e.g. `"Microsoft Windows 11 Enterprise|10.0.22631"`: the
    /// build is the version's last part; a caption naming a Server has no servicing branch.
    #[serde(default)]
    pub os: BTreeMap<String, u32>,
    /// Processor name → weight.
    #[serde(default)]
    pub cpus: BTreeMap<String, u32>,
    /// Percent of clients that are virtual machines.
    pub virtual_machines: Option<f64>,
    /// Percent of clients with UEFI firmware.
    pub uefi: Option<f64>,
    /// Percent of clients with Secure Boot on (at most `uefi`: Secure Boot needs UEFI).
    pub secure_boot: Option<f64>,
    /// Percent of clients with a TPM enabled.
    pub tpm: Option<f64>,
    /// Days since last active (`"0"` … `"3650"`) → weight.
    #[serde(default)]
    pub last_active_days: BTreeMap<String, u32>,
    /// BIOS age in whole 365-day years at the site's first weekly run (`"0"` … `"40"`) →
    /// weight.
    #[serde(default)]
    pub bios_age_years: BTreeMap<String, u32>,
}

/// The most entries one weighted field may have.
pub const MAX_MIX_ENTRIES: usize = 1_000;
/// The longest name a weighted field's key may be.
pub const MAX_MIX_NAME: usize = 256;

impl MixSpec {
    /// Every problem of the mix, as (field, message); empty when it is sound.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let mut weights = |field: &'static str, map: &BTreeMap<String, u32>| {
            if map.len() > MAX_MIX_ENTRIES {
                problems.push((
                    field,
                    format!("{} entries; at most {MAX_MIX_ENTRIES}", map.len()),
                ));
            }
            for (name, weight) in map {
                if *weight == 0 {
                    problems.push((
                        field,
                        format!("`{name}` has weight 0; leave it out instead"),
                    ));
                }
                if name.trim().is_empty()
                    || name.len() > MAX_MIX_NAME
                    || name.chars().any(char::is_control)
                {
                    problems.push((
                        field,
                        format!(
                            "`{}` is not a name: 1 to {MAX_MIX_NAME} printable characters",
                            name.escape_debug()
                        ),
                    ));
                }
            }
        };
        weights("client_versions", &self.client_versions);
        weights("os", &self.os);
        weights("cpus", &self.cpus);
        weights("last_active_days", &self.last_active_days);
        weights("bios_age_years", &self.bios_age_years);
        for name in self.os.keys() {
            if split_os(name).is_none() {
                problems.push((
                    "os",
                    format!("`{name}` is not `caption|version`, e.g. \"Microsoft Windows 11 Enterprise|10.0.22631\""),
                ));
            }
        }
        for (field, map, max) in [
            ("last_active_days", &self.last_active_days, 3650),
            ("bios_age_years", &self.bios_age_years, 40),
        ] {
            for key in map.keys() {
                if key.parse::<u32>().map_or(true, |v| v > max) {
                    problems.push((
                        field,
                        format!("`{key}` is not a whole number from 0 to {max}"),
                    ));
                }
            }
        }
        for (field, share) in [
            ("virtual_machines", self.virtual_machines),
            ("uefi", self.uefi),
            ("secure_boot", self.secure_boot),
            ("tpm", self.tpm),
        ] {
            if let Some(p) = share
                && !(0.0..=100.0).contains(&p)
            {
                problems.push((field, format!("{p} is not a percentage from 0 to 100")));
            }
        }
        match (self.uefi, self.secure_boot) {
            (None, Some(_)) => problems.push((
                "secure_boot",
                "Secure Boot needs UEFI: give `uefi` too".into(),
            )),
            (Some(uefi), Some(sb)) if sb > uefi => problems.push((
                "secure_boot",
                format!("{sb} % with Secure Boot but {uefi} % with UEFI: Secure Boot needs UEFI"),
            )),
            _ => {}
        }
        problems
    }
}

/// An OS key's caption, version and build: `"caption|10.0.22631"` → build 22631.
pub fn split_os(key: &str) -> Option<(&str, &str, u32)> {
    let (caption, version) = key.split_once('|')?;
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let build = parts.last()?.parse().ok()?;
    (numeric && !caption.trim().is_empty()).then_some((caption, version, build))
}
