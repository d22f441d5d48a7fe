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
    /// A third part, `|CB`, `|CBB` or `|LTSB`, fixes the servicing branch of those clients
    /// (otherwise LTSC captions are LTSB and the rest mostly CB).
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
    /// UEFI, Secure Boot and TPM together, as `"uefi+secure_boot+tpm"`, `"uefi+tpm"`, `"tpm"`,
    /// `"none"`, … → weight: the joint shares, where `uefi`, `secure_boot` and `tpm` give
    /// each alone.
    #[serde(default)]
    pub firmware: BTreeMap<String, u32>,
    /// Days since last active (`"0"` … `"3650"`) → weight.
    #[serde(default)]
    pub last_active_days: BTreeMap<String, u32>,
    /// BIOS age in whole 365-day years at the site's first weekly run (`"0"` … `"40"`) →
    /// weight.
    #[serde(default)]
    pub bios_age_years: BTreeMap<String, u32>,
    /// Age of the OS install in whole 30-day months at the site's first weekly run (`"0"` …
    /// `"600"`) → weight.
    #[serde(default)]
    pub os_age_months: BTreeMap<String, u32>,
    /// Endpoint Protection state (`protected`, `at_risk`, `unknown`, `unsupported`) → weight.
    #[serde(default)]
    pub endpoint_protection: BTreeMap<String, u32>,
}

/// The Endpoint Protection states, in `EP_State0`'s numbering from 1.
pub const EP_STATES: [&str; 4] = ["protected", "at_risk", "unknown", "unsupported"];

/// The servicing branches, in `OSBranch01`'s numbering from 0.
pub const BRANCHES: [&str; 3] = ["CB", "CBB", "LTSB"];

/// What one shaped OS key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsKey<'a> {
    pub caption: &'a str,
    pub version: &'a str,
    /// The version's last part.
    pub build: u32,
    /// `OSBranch01`, when the key fixes it.
    pub branch: Option<u8>,
}

/// The firmware a `firmware` key names: (UEFI, Secure Boot, TPM).
pub fn parse_firmware(key: &str) -> Option<(bool, bool, bool)> {
    if key == "none" {
        return Some((false, false, false));
    }
    let (mut uefi, mut secure_boot, mut tpm) = (false, false, false);
    for part in key.split('+') {
        let flag = match part {
            "uefi" => &mut uefi,
            "secure_boot" => &mut secure_boot,
            "tpm" => &mut tpm,
            _ => return None,
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    (!secure_boot || uefi).then_some((uefi, secure_boot, tpm))
}

/// The `firmware` key of (UEFI, Secure Boot, TPM): the inverse of [`parse_firmware`].
pub fn firmware_key(uefi: bool, secure_boot: bool, tpm: bool) -> String {
    let parts: Vec<&str> = [(uefi, "uefi"), (secure_boot, "secure_boot"), (tpm, "tpm")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("+")
    }
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
        weights("os_age_months", &self.os_age_months);
        weights("firmware", &self.firmware);
        weights("endpoint_protection", &self.endpoint_protection);
        for name in self.os.keys() {
            match split_os(name) {
                None => problems.push((
                    "os",
                    format!("`{name}` is not `caption|version` or `caption|version|branch`, e.g. \"Microsoft Windows 11 Enterprise|10.0.22631\" or \"…|10.0.22631|CBB\" (branch CB, CBB or LTSB)"),
                )),
                Some(key) if key.branch.is_some() && !has_branch(key.caption) => problems.push((
                    "os",
                    format!("`{name}`: a Server has no servicing branch; leave the branch out"),
                )),
                Some(_) => {}
            }
        }
        for name in self.firmware.keys() {
            if parse_firmware(name).is_none() {
                problems.push((
                    "firmware",
                    format!("`{name}` is not `none` or some of `uefi`, `secure_boot`, `tpm` joined by `+` (Secure Boot needs UEFI)"),
                ));
            }
        }
        if !self.firmware.is_empty() {
            for (field, given) in [
                ("uefi", self.uefi),
                ("secure_boot", self.secure_boot),
                ("tpm", self.tpm),
            ] {
                if given.is_some() {
                    problems.push((
                        field,
                        "give `firmware` (joint shares) or `uefi`/`secure_boot`/`tpm`, not both"
                            .into(),
                    ));
                }
            }
        }
        for name in self.endpoint_protection.keys() {
            if !EP_STATES.contains(&name.as_str()) {
                problems.push((
                    "endpoint_protection",
                    format!("`{name}` is not one of {}", EP_STATES.join(", ")),
                ));
            }
        }
        for (field, map, max) in [
            ("last_active_days", &self.last_active_days, 3650),
            ("bios_age_years", &self.bios_age_years, 40),
            ("os_age_months", &self.os_age_months, 600),
        ] {
            for key in map.keys() {
                if key
                    .parse::<u32>()
                    .map_or(true, |v| v > max || v.to_string() != *key)
                {
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

/// What an OS key says: `"caption|10.0.22631"` → build 22631; `"caption|10.0.22631|CBB"` also
/// fixes the branch.
pub fn split_os(key: &str) -> Option<OsKey<'_>> {
    let (caption, rest) = key.split_once('|')?;
    let (version, branch) = match rest.split_once('|') {
        None => (rest, None),
        Some((version, branch)) => (
            version,
            Some(BRANCHES.iter().position(|b| *b == branch)? as u8),
        ),
    };
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let build = parts.last()?.parse().ok()?;
    (numeric && !caption.trim().is_empty()).then_some(OsKey {
        caption,
        version,
        build,
        branch,
    })
}

/// Whether clients of an OS caption have a servicing branch: servers do not, whatever the case
/// their inventory spells it in.
pub fn has_branch(caption: &str) -> bool {
    !caption.to_ascii_lowercase().contains("server")
}
