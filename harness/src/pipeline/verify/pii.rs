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
/// sets of its tokens and words, and of the spans of each two neighbouring ones.
struct Scannable<'a> {
    receipt_id: &'a str,
    bytes: Vec<u8>,
    /// Lower-cased bytes, for case-insensitive confirmation.
    folded: Vec<u8>,
    /// Per [`Bounds`], case-insensitive (of `folded`) and case-sensitive (of `bytes`).
    tokens: Pieces,
    case_sensitive_tokens: Pieces,
    words: Pieces,
    case_sensitive_words: Pieces,
    /// Collected at Basic or Enhanced: nothing personal may be in it.
    private: bool,
}

/// The pieces (tokens or words) of some bytes, and the hashes of every span from one piece's
/// start to the next piece's end. A value found in the bytes is a run of whole pieces: each of
/// its pieces is one of the bytes' pieces, and each two of its neighbouring pieces, with what
/// stands between them, is one of the bytes' spans. Numbers are pieces of nearly every upload,
/// so an IP address's pieces alone let through nearly every address, and each then cost a
/// search of the whole upload (a field-size offline run took minutes); its spans do not.
#[derive(Default)]
struct Pieces {
    pieces: HashSet<Vec<u8>>,
    spans: HashSet<u64>,
}

impl Pieces {
    fn of(bytes: &[u8], continues: fn(u8) -> bool) -> Self {
        let mut found = Self::default();
        let mut previous_start = None;
        for (start, end) in piece_bounds(bytes, continues) {
            found.pieces.insert(bytes[start..end].to_vec());
            if let Some(previous) = previous_start {
                found.spans.insert(span_hash(&bytes[previous..end]));
            }
            previous_start = Some(start);
        }
        found
    }

    /// False when `needle` cannot stand in the bytes as a run of whole pieces.
    fn may_hold(&self, needle: &[u8], continues: fn(u8) -> bool) -> bool {
        let mut previous_start = None;
        for (start, end) in piece_bounds(needle, continues) {
            if !self.pieces.contains(&needle[start..end]) {
                return false;
            }
            if let Some(previous) = previous_start
                && !self.spans.contains(&span_hash(&needle[previous..end]))
            {
                return false;
            }
            previous_start = Some(start);
        }
        true
    }
}

fn span_hash(span: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(span)
}

/// Where each maximal run of bytes that `continues` starts and ends.
fn piece_bounds(bytes: &[u8], continues: fn(u8) -> bool) -> impl Iterator<Item = (usize, usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + bytes[at..].iter().position(|b| continues(*b))?;
        let end = bytes[start..]
            .iter()
            .position(|b| !continues(*b))
            .map_or(bytes.len(), |n| start + n);
        at = end;
        Some((start, end))
    })
}

/// Characters that continue a token: a value only counts as found when it stands alone, so
/// `10.1.2.3` inside `110.1.2.34`, or `P01` inside a base64 digest, is not a leak.
fn joins(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'/' | b'_' | b'-')
}

fn alphanumeric(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

impl Bounds {
    /// Whether `b` continues a value: a value next to such a byte is part of something longer.
    fn continues(self) -> fn(u8) -> bool {
        match self {
            Bounds::Word => alphanumeric,
            Bounds::Token => joins,
        }
    }
}

impl<'a> Scannable<'a> {
    fn new(receipt_id: &'a str, bytes: Vec<u8>, private: bool) -> Self {
        let folded = bytes.to_ascii_lowercase();
        Self {
            receipt_id,
            tokens: Pieces::of(&folded, joins),
            case_sensitive_tokens: Pieces::of(&bytes, joins),
            words: Pieces::of(&folded, alphanumeric),
            case_sensitive_words: Pieces::of(&bytes, alphanumeric),
            bytes,
            folded,
            private,
        }
    }

    /// True when `value` stands in the upload as a whole run of pieces. The sets of pieces and
    /// spans rule out nearly every value at once; only then is the upload searched for it.
    fn contains(&self, value: &str, case_sensitive: bool, bounds: Bounds) -> bool {
        let (haystack, needle) = if case_sensitive {
            (&self.bytes, value.as_bytes().to_vec())
        } else {
            (&self.folded, value.as_bytes().to_ascii_lowercase())
        };
        let known = match (case_sensitive, bounds) {
            (true, Bounds::Word) => &self.case_sensitive_words,
            (true, Bounds::Token) => &self.case_sensitive_tokens,
            (false, Bounds::Word) => &self.words,
            (false, Bounds::Token) => &self.tokens,
        };
        let continues = bounds.continues();
        if needle.is_empty() || needle.len() > haystack.len() || !known.may_hold(&needle, continues)
        {
            return false;
        }
        memchr::memmem::find_iter(haystack, &needle).any(|start| {
            let end = start + needle.len();
            !start.checked_sub(1).is_some_and(|i| continues(haystack[i]))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(text: &str) -> Scannable<'static> {
        Scannable::new("r", text.as_bytes().to_vec(), true)
    }

    #[test]
    fn a_value_is_found_standing_alone_and_only_so() {
        let u = upload(r#"{"ip":"10.20.30.40","host":"DESKTOP-1.corp.example","n":"110.20.30.4"}"#);
        assert!(u.contains("10.20.30.40", false, Bounds::Word));
        assert!(u.contains("desktop-1", false, Bounds::Word));
        assert!(!u.contains("desktop-1", true, Bounds::Word));
        assert!(u.contains("DESKTOP-1", true, Bounds::Word));
        // Inside a longer number: every piece is there, and it is not a leak.
        assert!(!u.contains("10.20.30.4", false, Bounds::Word));
        assert!(!u.contains("DESKTOP", false, Bounds::Token));
        assert!(u.contains("DESKTOP-1.corp.example", true, Bounds::Token));
    }

    #[test]
    fn pieces_that_are_there_but_not_side_by_side_are_not_a_value() {
        // 10, 20, 30 and 40 are all pieces of the upload, and so are the spans 10.20 and 30.40,
        // but 20.30 is not: the address is not there, and no search is needed to say so.
        let u = upload(r#"{"a":"10.20","b":"30.40","c":"20 30"}"#);
        let words = &u.words;
        assert!(!words.may_hold(b"10.20.30.40", alphanumeric));
        assert!(!u.contains("10.20.30.40", false, Bounds::Word));
        assert!(words.may_hold(b"10.20", alphanumeric));
        assert!(u.contains("10.20", false, Bounds::Word));
        assert!(u.contains("20 30", false, Bounds::Word));
    }

    #[test]
    fn values_beginning_or_ending_in_a_separator_are_found() {
        let u = upload("x [00-15-5D-01-02-03] y ada lovelace. z");
        assert!(u.contains("00-15-5d-01-02-03", false, Bounds::Word));
        assert!(u.contains("[00-15-5D", true, Bounds::Word));
        assert!(u.contains("ada lovelace.", false, Bounds::Word));
        assert!(!u.contains("ada lovelace z", false, Bounds::Word));
    }
}
