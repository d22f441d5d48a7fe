//! Clients (`System_DISC` and inventory).

use fake::Fake;
use fake::faker::name::en::{FirstName, LastName};
use rand::RngExt;

use super::{FIRST_ITEM_KEY, date_between, mail_domain, rng, weighted, ymd};
use crate::model::*;

pub(super) const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// Client `index` of a site (0-based).
pub fn client(site: &SiteModel, domain: &str, index: u32) -> Client {
    let mut r = rng(site, "client", u64::from(index));
    let os_table: Vec<(OsImage, u32)> = OS_IMAGES.iter().map(|o| (*o, o.weight)).collect();
    let os = weighted(&mut r, &os_table);
    let prefix = if !os.has_branch {
        "SRV-"
    } else if r.random_bool(0.6) {
        "LAPTOP-"
    } else {
        "DESKTOP-"
    };
    // Built in place, not formatted: a million clients make each allocation count.
    let mut netbios_name = String::with_capacity(prefix.len() + 7);
    netbios_name.push_str(prefix);
    netbios_name.extend((0..7).map(|_| ALNUM[r.random_range(0..ALNUM.len())] as char));
    let first: String = FirstName().fake_with_rng(&mut r);
    let last: String = LastName().fake_with_rng(&mut r);
    let number: i32 = r.random_range(10..100);
    let mut user_name = String::with_capacity(first.len() + last.len() + 3);
    user_name.extend(
        first
            .chars()
            .chain(['.'])
            .chain(last.chars())
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .map(|c| c.to_ascii_lowercase()),
    );
    user_name.push_str(itoa::Buffer::new().format(number));
    let ip_address = format!(
        "10.{}.{}.{}",
        r.random_range(16..250),
        r.random_range(0..256),
        r.random_range(2..255)
    );
    let mac_address = format!(
        "00:15:5D:{:02X}:{:02X}:{:02X}",
        r.random_range(0..256),
        r.random_range(0..256),
        r.random_range(0..256)
    );
    let uefi = r.random_bool(0.8);
    let mut client = Client {
        item_key: item_key(index),
        netbios_name,
        email: format!("{user_name}@{domain}"),
        user_name,
        ip_address,
        mac_address,
        client_version: weighted(&mut r, CLIENT_VERSIONS).to_string(),
        ubr: r.random_range(1000..6000),
        branch: os.has_branch.then(|| {
            if os.caption.contains("LTSC") {
                2
            } else {
                weighted(&mut r, &[(0u8, 85), (1, 15)])
            }
        }),
        os,
        os_caption: os.caption.to_string(),
        bios_date: date_between(&mut r, ymd(2014, 1, 1), ymd(2025, 12, 31)),
        os_install_date: date_between(&mut r, ymd(2019, 1, 1), ymd(2025, 12, 31)),
        secure_boot: uefi && r.random_bool(0.85),
        uefi,
        tpm: r.random_bool(0.9),
        is_virtual: r.random_bool(if os.has_branch { 0.05 } else { 0.6 }),
        cpu: weighted(&mut r, CPUS).to_string(),
        last_active_days: if r.random_bool(0.85) {
            r.random_range(0..8)
        } else {
            r.random_range(8..91)
        },
        ep_state: weighted(&mut r, &[(1u8, 80), (2, 8), (3, 7), (4, 5)]),
    };
    // Drawn last, so that every other value is what it was before spellings were drawn. A
    // shaped name is spelled exactly as the mix gives it: the mix already says how inventory
    // spells it (an export reports the spelling that won its group).
    let cpu_spelling = weighted(&mut r, Spelling::MIX);
    let caption_spelling = weighted(&mut r, Spelling::MIX);
    let shaped = site.mix.as_ref().map(|mix| mix.shape(index));
    if shaped.as_ref().is_none_or(|s| s.cpu.is_none()) {
        client.cpu = cpu_spelling.spell(&client.cpu);
    }
    if shaped.as_ref().is_none_or(|s| s.os.is_none()) {
        client.os_caption = caption_spelling.spell(&client.os_caption);
    }
    if let Some(shaped) = &shaped {
        shape(&mut client, site, shaped, index);
    }
    client
}

/// Puts a shaped mix's values in place of the drawn ones. The draws above are made either way,
/// so shaping one field leaves every other as it was.
fn shape(client: &mut Client, site: &SiteModel, shaped: &Shaped, index: u32) {
    if let Some(version) = shaped.client_version {
        client.client_version = version.to_string();
    }
    if let Some(os) = shaped.os {
        client.branch = match (os.has_branch, client.branch) {
            (false, _) => None,
            (true, _) if shaped.branch.is_some() => shaped.branch,
            (true, _) if os.caption.to_ascii_uppercase().contains("LTSC") => Some(2),
            (true, Some(branch)) => Some(branch.min(1)),
            (true, None) => Some(0),
        };
        client.os = os;
        client.os_caption = os.caption.to_string();
    }
    if let Some(cpu) = shaped.cpu {
        client.cpu = cpu.to_string();
    }
    if let Some(is_virtual) = shaped.is_virtual {
        client.is_virtual = is_virtual;
    }
    if let Some((uefi, secure_boot)) = shaped.uefi_secure_boot {
        client.uefi = uefi;
        client.secure_boot = secure_boot;
    }
    if let Some(tpm) = shaped.tpm {
        client.tpm = tpm;
    }
    if let Some(days) = shaped.last_active_days {
        client.last_active_days = days;
    }
    if let Some(state) = shaped.ep_state {
        client.ep_state = state;
    }
    if let Some(months) = shaped.os_age_months {
        // Whole 30-day months at the site's first run.
        let days_into_month = rng(site, "mix/os_age", u64::from(index)).random_range(0..30);
        client.os_install_date =
            site.run_day(1) - chrono::Days::new(u64::from(months) * 30 + days_into_month);
    }
    if let Some(years) = shaped.bios_age_years {
        // Whole years at the site's first run, and for the half year after it.
        let days_into_year = rng(site, "mix/bios", u64::from(index)).random_range(0..180);
        client.bios_date =
            site.run_day(1) - chrono::Days::new(u64::from(years) * 365 + days_into_year);
    }
}

/// A site's clients, in order, produced on demand.
pub fn clients(site: &SiteModel) -> impl Iterator<Item = Client> + '_ {
    let domain = mail_domain(site);
    (0..site.clients).map(move |i| client(site, &domain, i))
}

/// The `ItemKey` of client `index` (0-based), as the product numbers resources.
pub(super) fn item_key(index: u32) -> i64 {
    FIRST_ITEM_KEY + i64::from(index)
}

pub(super) fn update_ci_id(index: u32) -> i64 {
    16_800_000 + i64::from(index)
}
