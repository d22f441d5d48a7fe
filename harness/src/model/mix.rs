//! A primary's shaped mix (`[hierarchy.primary.mix]`) as the generator uses it: each shaped
//! field's weights apportioned exactly over the site's clients (largest remainder, not sampled),
//! and the clients dealt to the values through a permutation of their indices of the field's
//! own, so that fields are independent and a client is still a pure function of its index.

use super::{OsImage, derive_seed};
use crate::scenario::{EP_STATES, MixSpec, has_branch, parse_firmware, split_os};

/// A bijection of `0..n`: `i ↦ (a·i + b) mod n` with `a` coprime to `n`.
#[derive(Debug, Clone, Copy)]
struct Permutation {
    a: u64,
    b: u64,
    n: u64,
}

impl Permutation {
    fn new(seed: u64, field: &str, n: u32) -> Self {
        let n = u64::from(n.max(1));
        let mut a = derive_seed(seed, &format!("mix/{field}/a")) % n;
        while gcd(a, n) != 1 {
            a = (a + 1) % n;
        }
        let b = derive_seed(seed, &format!("mix/{field}/b")) % n;
        Self { a, b, n }
    }

    fn apply(self, index: u32) -> u64 {
        (self.a * (u64::from(index) % self.n) + self.b) % self.n
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Counts for `weights` summing to exactly `n`: each its floor share, and the clients left over
/// to the largest remainders (the first entry on a tie).
pub fn apportion(weights: &[u32], n: u32) -> Vec<u32> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let n = u64::from(n);
    let mut counts: Vec<u32> = weights
        .iter()
        .map(|w| (n * u64::from(*w) / total) as u32)
        .collect();
    let given: u64 = counts.iter().map(|c| u64::from(*c)).sum();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(n * u64::from(weights[i]) % total));
    for &i in by_remainder.iter().take((n - given) as usize) {
        counts[i] += 1;
    }
    counts
}

/// One shaped field: its values and the client indices each gets.
#[derive(Debug, Clone)]
struct Dealt<T> {
    values: Vec<T>,
    /// `ends[k]`: one past the last permuted index of `values[k]`.
    ends: Vec<u64>,
    permutation: Permutation,
}

impl<T> Dealt<T> {
    fn new(entries: Vec<(T, u32)>, clients: u32, seed: u64, field: &str) -> Self {
        let weights: Vec<u32> = entries.iter().map(|(_, w)| *w).collect();
        let mut end = 0;
        let ends = apportion(&weights, clients)
            .into_iter()
            .map(|c| {
                end += u64::from(c);
                end
            })
            .collect();
        Self {
            values: entries.into_iter().map(|(v, _)| v).collect(),
            ends,
            permutation: Permutation::new(seed, field, clients),
        }
    }

    fn of(&self, index: u32) -> &T {
        let at = self.permutation.apply(index);
        let k = self.ends.partition_point(|end| *end <= at);
        &self.values[k.min(self.values.len() - 1)]
    }
}

/// A share of the clients: the first `count` of a permutation.
#[derive(Debug, Clone, Copy)]
struct Share {
    count: u64,
    permutation: Permutation,
}

impl Share {
    fn new(percent: f64, clients: u32, permutation: Permutation) -> Self {
        Self {
            count: (f64::from(clients) * percent / 100.0).round() as u64,
            permutation,
        }
    }

    fn has(&self, index: u32) -> bool {
        self.permutation.apply(index) < self.count
    }
}

/// What a shaped mix decides for each client; `None` fields come from the default mix.
#[derive(Debug, Clone)]
pub struct MixPlan {
    client_versions: Option<Dealt<String>>,
    /// Each image with the branch its key fixes, if any.
    os: Option<Dealt<(OsImage, Option<u8>)>>,
    cpus: Option<Dealt<String>>,
    virtual_machines: Option<Share>,
    /// UEFI and Secure Boot share one permutation: Secure Boot's clients are the first of
    /// UEFI's.
    uefi: Option<(Share, Share)>,
    tpm: Option<Share>,
    /// (UEFI, Secure Boot, TPM) dealt jointly.
    firmware: Option<Dealt<(bool, bool, bool)>>,
    last_active_days: Option<Dealt<u32>>,
    bios_age_years: Option<Dealt<u32>>,
    os_age_months: Option<Dealt<u32>>,
    /// `EP_State0`.
    endpoint_protection: Option<Dealt<u8>>,
}

/// The shaped values of one client.
#[derive(Debug, Clone, Default)]
pub struct Shaped<'a> {
    pub client_version: Option<&'a str>,
    pub os: Option<OsImage>,
    /// The branch the OS key fixes.
    pub branch: Option<u8>,
    pub cpu: Option<&'a str>,
    pub is_virtual: Option<bool>,
    pub uefi_secure_boot: Option<(bool, bool)>,
    pub tpm: Option<bool>,
    pub last_active_days: Option<u32>,
    pub bios_age_years: Option<u32>,
    pub os_age_months: Option<u32>,
    pub ep_state: Option<u8>,
}

impl MixPlan {
    /// The plan of a validated mix for a site of `clients` clients seeded with `seed`. Shaped OS
    /// images outside the catalog are leaked to `&'static`, like the catalog's (a few bytes per
    /// scenario load).
    pub fn new(spec: &MixSpec, clients: u32, seed: u64) -> Self {
        let dealt = |field: &str, map: &std::collections::BTreeMap<String, u32>| {
            (!map.is_empty()).then(|| {
                Dealt::new(
                    map.iter().map(|(k, w)| (k.clone(), *w)).collect(),
                    clients,
                    seed,
                    field,
                )
            })
        };
        let numbers = |field: &str, map: &std::collections::BTreeMap<String, u32>| {
            (!map.is_empty()).then(|| {
                Dealt::new(
                    map.iter()
                        .map(|(k, w)| (k.parse().expect("validated"), *w))
                        .collect(),
                    clients,
                    seed,
                    field,
                )
            })
        };
        let os = (!spec.os.is_empty()).then(|| {
            let images = spec
                .os
                .iter()
                .map(|(key, w)| {
                    let branch = split_os(key).expect("validated").branch;
                    ((os_image(key), branch), *w)
                })
                .collect();
            Dealt::new(images, clients, seed, "os")
        });
        let firmware = (!spec.firmware.is_empty()).then(|| {
            let kinds = spec
                .firmware
                .iter()
                .map(|(key, w)| (parse_firmware(key).expect("validated"), *w))
                .collect();
            Dealt::new(kinds, clients, seed, "firmware")
        });
        let endpoint_protection = (!spec.endpoint_protection.is_empty()).then(|| {
            let states = spec
                .endpoint_protection
                .iter()
                .map(|(state, w)| {
                    let at = EP_STATES
                        .iter()
                        .position(|s| s == state)
                        .expect("validated");
                    (at as u8 + 1, *w)
                })
                .collect();
            Dealt::new(states, clients, seed, "endpoint_protection")
        });
        let share = |field: &str, percent: Option<f64>| {
            percent.map(|p| Share::new(p, clients, Permutation::new(seed, field, clients)))
        };
        let uefi = match (spec.uefi, spec.secure_boot) {
            (Some(uefi), secure_boot) => {
                let permutation = Permutation::new(seed, "uefi", clients);
                Some((
                    Share::new(uefi, clients, permutation),
                    // Without a share of its own, Secure Boot is on for the default 85 % of UEFI.
                    Share::new(
                        secure_boot.unwrap_or(uefi * 0.85).min(uefi),
                        clients,
                        permutation,
                    ),
                ))
            }
            (None, _) => None,
        };
        Self {
            client_versions: dealt("client_versions", &spec.client_versions),
            os,
            cpus: dealt("cpus", &spec.cpus),
            virtual_machines: share("virtual_machines", spec.virtual_machines),
            uefi,
            tpm: share("tpm", spec.tpm),
            firmware,
            last_active_days: numbers("last_active_days", &spec.last_active_days),
            bios_age_years: numbers("bios_age_years", &spec.bios_age_years),
            os_age_months: numbers("os_age_months", &spec.os_age_months),
            endpoint_protection,
        }
    }

    /// What the mix decides for client `index`.
    pub fn shape(&self, index: u32) -> Shaped<'_> {
        let os = self.os.as_ref().map(|d| *d.of(index));
        let firmware = self.firmware.as_ref().map(|d| *d.of(index));
        Shaped {
            client_version: self.client_versions.as_ref().map(|d| d.of(index).as_str()),
            os: os.map(|(image, _)| image),
            branch: os.and_then(|(_, branch)| branch),
            cpu: self.cpus.as_ref().map(|d| d.of(index).as_str()),
            is_virtual: self.virtual_machines.map(|s| s.has(index)),
            uefi_secure_boot: firmware
                .map(|(uefi, sb, _)| (uefi, sb))
                .or_else(|| self.uefi.map(|(u, s)| (u.has(index), s.has(index)))),
            tpm: firmware
                .map(|(_, _, tpm)| tpm)
                .or_else(|| self.tpm.map(|s| s.has(index))),
            last_active_days: self.last_active_days.as_ref().map(|d| *d.of(index)),
            bios_age_years: self.bios_age_years.as_ref().map(|d| *d.of(index)),
            os_age_months: self.os_age_months.as_ref().map(|d| *d.of(index)),
            ep_state: self.endpoint_protection.as_ref().map(|d| *d.of(index)),
        }
    }
}

/// The OS image a validated `caption|version` key names: the catalog's when it has it, spelled
/// exactly as the key spells it (an export names a caption as inventory spelled it).
fn os_image(key: &str) -> OsImage {
    let os = split_os(key).expect("validated");
    if let Some(image) = super::OS_IMAGES
        .iter()
        .find(|o| o.caption == os.caption && o.version == os.version)
    {
        return *image;
    }
    let has_branch = super::OS_IMAGES
        .iter()
        .find(|o| o.caption.eq_ignore_ascii_case(os.caption.trim_end()))
        .map_or_else(|| has_branch(os.caption), |o| o.has_branch);
    OsImage {
        caption: Box::leak(os.caption.to_string().into_boxed_str()),
        version: Box::leak(os.version.to_string().into_boxed_str()),
        build: os.build,
        has_branch,
        weight: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportioning_is_exact_and_by_largest_remainder() {
        assert_eq!(apportion(&[1, 1, 1], 10), vec![4, 3, 3]);
        assert_eq!(
            apportion(&[70, 20, 10], 175_000),
            vec![122_500, 35_000, 17_500]
        );
        assert_eq!(apportion(&[2, 1], 1), vec![1, 0]);
        assert_eq!(apportion(&[5], 0), vec![0]);
    }

    #[test]
    fn a_permutation_visits_every_index_once() {
        for n in [1u32, 2, 7, 12, 1000] {
            let p = Permutation::new(42, "x", n);
            let mut seen: Vec<u64> = (0..n).map(|i| p.apply(i)).collect();
            seen.sort();
            assert_eq!(seen, (0..u64::from(n)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn each_value_gets_exactly_its_count() {
        let d = Dealt::new(vec![("a", 3), ("b", 1)], 1000, 7, "f");
        let a = (0..1000).filter(|i| *d.of(*i) == "a").count();
        assert_eq!(a, 750);
    }
}
