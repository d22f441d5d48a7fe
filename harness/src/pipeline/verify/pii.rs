//! The privacy scan: every received byte searched for the personal and identifying values the
//! generator made.

use std::collections::{BTreeSet, HashSet};

use usage_protocol::payload::UsagePayload;

use super::{ExpectedWeek, ReceivedUpload};
use crate::finding::{Finding, FindingCode};
use crate::generate;
use crate::model::{HierarchyModel, SiteModel};
use crate::scenario::Level;

/// A value that must not leave the site.
struct Secret {
    value: String,
    what: &'static str,
    /// Searched in every upload (custom table names), not only those at Basic and Enhanced.
    everywhere: bool,
    case_sensitive: bool,
    bounds: Bounds,
}

/// What must stand on either side of a found value.
#[derive(Clone, Copy)]
enum Bounds {
    /// Anything but a letter or digit: `DESKTOP-1` is found in `DESKTOP-1.corp.contoso.com`,
    /// `http://DESKTOP-1:8080` and `DESKTOP-1_x`, not in `DESKTOP-12`.
    Word,
    /// Anything but a letter, digit or `. + / _ -`: for values so short they would be found
    /// by chance inside base64 digests and dotted numbers (`P01`).
    Token,
}

/// Bytes of one upload prepared for scanning — the whole upload, or one entry of it — with the
/// set of their tokens.
struct Scannable<'a> {
    receipt_id: &'a str,
    bytes: Vec<u8>,
    /// Lower-cased bytes, for case-insensitive confirmation.
    folded: Vec<u8>,
    tokens: HashSet<Vec<u8>>,
    case_sensitive_tokens: HashSet<Vec<u8>>,
    /// Lower-cased runs of letters and digits, for [`Bounds::Word`].
    words: HashSet<Vec<u8>>,
    case_sensitive_words: HashSet<Vec<u8>>,
    /// Collected at Basic or Enhanced: nothing personal may be in it.
    private: bool,
}

/// Characters that continue a token: a value only counts as found when it stands alone, so
/// `10.1.2.3` inside `110.1.2.34`, or `P01` inside a base64 digest, is not a leak.
fn joins(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'/' | b'_' | b'-')
}

fn tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| !joins(*b)).filter(|t| !t.is_empty())
}

fn words(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

impl<'a> Scannable<'a> {
    fn new(receipt_id: &'a str, bytes: Vec<u8>, private: bool) -> Self {
        let folded = bytes.to_ascii_lowercase();
        let folded_tokens = tokens(&folded).map(<[u8]>::to_vec).collect();
        let case_sensitive_tokens = tokens(&bytes).map(<[u8]>::to_vec).collect();
        let folded_words = words(&folded).map(<[u8]>::to_vec).collect();
        let case_sensitive_words = words(&bytes).map(<[u8]>::to_vec).collect();
        Self {
            receipt_id,
            bytes,
            folded,
            tokens: folded_tokens,
            case_sensitive_tokens,
            words: folded_words,
            case_sensitive_words,
            private,
        }
    }

    /// True when `value` stands in the upload as a whole token sequence. Every token of the value
    /// must be a token of the upload (a hash lookup, which rules out nearly every value at once);
    /// only then is the upload searched for the value itself.
    fn contains(&self, value: &str, case_sensitive: bool, bounds: Bounds) -> bool {
        let split: fn(&[u8]) -> Vec<&[u8]> = match bounds {
            Bounds::Word => |b| words(b).collect(),
            Bounds::Token => |b| tokens(b).collect(),
        };
        let (haystack, needle, known) = if case_sensitive {
            let known = match bounds {
                Bounds::Word => &self.case_sensitive_words,
                Bounds::Token => &self.case_sensitive_tokens,
            };
            (&self.bytes[..], value.as_bytes().to_vec(), known)
        } else {
            let known = match bounds {
                Bounds::Word => &self.words,
                Bounds::Token => &self.tokens,
            };
            (
                &self.folded[..],
                value.as_bytes().to_ascii_lowercase(),
                known,
            )
        };
        if !split(&needle).iter().all(|t| known.contains(*t)) {
            return false;
        }
        let continues = |b: u8| match bounds {
            Bounds::Word => b.is_ascii_alphanumeric(),
            Bounds::Token => joins(b),
        };
        if needle.is_empty() || needle.len() > haystack.len() {
            return false;
        }
        haystack
            .windows(needle.len())
            .enumerate()
            .any(|(start, window)| {
                let end = start + needle.len();
                window == needle.as_slice()
                    && !start.checked_sub(1).is_some_and(|i| continues(haystack[i]))
                    && !haystack.get(end).is_some_and(|b| continues(*b))
            })
    }
}

/// Scans every received byte for values that identify a person, machine or the customer. An
/// upload sent at Basic or Enhanced may hold none; in one sent at Full, each entry is held to
/// the level its own week ran at; custom table names may never appear at all. Clients are
/// generated again from the seed rather than kept, so the scan's memory stays flat however many
/// clients a site has.
pub fn scan_for_personal_data(
    hierarchy: &HierarchyModel,
    expected: &[ExpectedWeek],
    uploads: &[(&ReceivedUpload, UsagePayload)],
) -> Vec<Finding> {
    let level_of = |week: u32| {
        (week as usize)
            .checked_sub(1)
            .and_then(|i| expected.get(i))
            .map_or(Level::Basic, |w| w.level)
    };
    let mut all = Vec::new();
    for (upload, payload) in uploads {
        let sent_at = Level::parse(&payload.level).unwrap_or(Level::Basic);
        all.push(Scannable::new(
            &upload.receipt_id,
            upload.json.clone(),
            sent_at < Level::Full,
        ));
        if sent_at == Level::Full {
            for r in &payload.results {
                if level_of(r.week_in(payload)) < Level::Full {
                    let bytes = serde_json::to_vec(r).expect("entries serialise");
                    all.push(Scannable::new(&upload.receipt_id, bytes, true));
                }
            }
        }
    }
    let private: Vec<&Scannable> = all.iter().filter(|u| u.private).collect();
    let everywhere: Vec<&Scannable> = all.iter().collect();
    let mut findings = Vec::new();
    let mut reported = BTreeSet::new();
    for site in &hierarchy.sites {
        for secret in secrets_of(site, !private.is_empty()) {
            let scope = if secret.everywhere {
                &everywhere
            } else {
                &private
            };
            for upload in scope {
                if upload.contains(&secret.value, secret.case_sensitive, secret.bounds)
                    && reported.insert((secret.what, secret.value.clone()))
                {
                    findings.push(
                        Finding::new(
                            FindingCode::PiiLeak,
                            format!(
                                "{} `{}` found in upload {}",
                                secret.what, secret.value, upload.receipt_id
                            ),
                        )
                        .site(&site.code),
                    );
                }
            }
        }
    }
    findings
}

/// Every value of a site that must not leave it: names of the site, its network and its own
/// tables, and (when `with_clients`) every client's personal values, streamed.
fn secrets_of(site: &SiteModel, with_clients: bool) -> impl Iterator<Item = Secret> + '_ {
    let secret = |value: String, what, everywhere, case_sensitive| Secret {
        value,
        what,
        everywhere,
        case_sensitive,
        bounds: Bounds::Word,
    };
    // Site codes are three characters: matched case-sensitively, or `cas` (a site type) would
    // be taken for the code `CAS`.
    let site_values = [
        Secret {
            bounds: Bounds::Token,
            ..secret(site.code.clone(), "site code", false, true)
        },
        secret(site.name.clone(), "site name", false, false),
    ];
    let network = generate::network_names(site)
        .into_iter()
        .map(move |n| secret(n, "boundary or boundary group", false, false));
    let tables = generate::custom_table_names(site)
        .into_iter()
        .map(move |n| secret(n, "custom table name", true, false));
    let kinds = [
        "computer name",
        "user name",
        "IP address",
        "MAC address",
        "e-mail address",
    ];
    let clients = generate::clients(site)
        .take(if with_clients { usize::MAX } else { 0 })
        .flat_map(move |client| {
            let mut values: Vec<Secret> = client
                .personal_values()
                .into_iter()
                .zip(kinds)
                .map(|(value, what)| secret(value.to_string(), what, false, false))
                .collect();
            // The same values as other tools write them: a MAC address with dashes or with no
            // separators at all, a user name as words.
            values.push(secret(
                client.mac_address.replace(':', "-"),
                "MAC address",
                false,
                false,
            ));
            values.push(secret(
                client.mac_address.replace(':', ""),
                "MAC address",
                false,
                false,
            ));
            values.push(secret(
                client.user_name.replace('.', " "),
                "user name",
                false,
                false,
            ));
            values
        });
    site_values
        .into_iter()
        .chain(network)
        .chain(tables)
        .chain(clients)
}
