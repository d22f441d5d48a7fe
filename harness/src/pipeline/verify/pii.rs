//! The privacy scan: every received byte searched for the personal and identifying values the
//! generator made.

use std::collections::{BTreeSet, HashSet};

use super::{ExpectedWeek, ReceivedUpload};
use crate::finding::{Finding, FindingCode};
use crate::generate;
use crate::model::HierarchyModel;
use crate::scenario::Level;

/// A value that must not leave the site.
struct Secret<'a> {
    value: &'a str,
    what: &'static str,
    site: &'a str,
}

/// One upload prepared for scanning: its bytes and the set of its tokens.
struct Scannable<'a> {
    upload: &'a ReceivedUpload,
    /// Lower-cased bytes, for case-insensitive confirmation.
    folded: Vec<u8>,
    tokens: HashSet<Vec<u8>>,
    case_sensitive_tokens: HashSet<&'a [u8]>,
}

/// Characters that continue a token: a value only counts as found when it stands alone, so
/// `10.1.2.3` inside `110.1.2.34`, or `P01` inside a base64 digest, is not a leak.
fn joins(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'/' | b'_' | b'-')
}

fn tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| !joins(*b)).filter(|t| !t.is_empty())
}

impl<'a> Scannable<'a> {
    fn new(upload: &'a ReceivedUpload) -> Self {
        let folded = upload.json.to_ascii_lowercase();
        let folded_tokens = tokens(&folded).map(<[u8]>::to_vec).collect();
        let case_sensitive_tokens = tokens(&upload.json).collect();
        Self {
            upload,
            folded,
            tokens: folded_tokens,
            case_sensitive_tokens,
        }
    }

    /// True when `value` stands in the upload as a whole token sequence. Every token of the value
    /// must be a token of the upload (a hash lookup, which rules out nearly every value at once);
    /// only then is the upload searched for the value itself.
    fn contains(&self, value: &str, case_sensitive: bool) -> bool {
        let (haystack, needle) = if case_sensitive {
            if !tokens(value.as_bytes()).all(|t| self.case_sensitive_tokens.contains(t)) {
                return false;
            }
            (&self.upload.json[..], value.as_bytes().to_vec())
        } else {
            let needle = value.as_bytes().to_ascii_lowercase();
            if !tokens(&needle).all(|t| self.tokens.contains(t)) {
                return false;
            }
            (&self.folded[..], needle)
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
                    && !start.checked_sub(1).is_some_and(|i| joins(haystack[i]))
                    && !haystack.get(end).is_some_and(|b| joins(*b))
            })
    }
}

/// Scans every received byte for values that identify a person, machine or the customer. At
/// Basic and Enhanced none may appear; custom table names may never appear at all. Clients are
/// generated again from the seed rather than kept, so the scan's memory stays flat however many
/// clients a site has.
pub fn scan_for_personal_data(
    hierarchy: &HierarchyModel,
    expected: &[ExpectedWeek],
    uploads: &[ReceivedUpload],
) -> Vec<Finding> {
    let private_weeks: BTreeSet<u32> = expected
        .iter()
        .filter(|w| w.level < Level::Full)
        .map(|w| w.week)
        .collect();
    let all: Vec<Scannable> = uploads.iter().map(Scannable::new).collect();
    let private: Vec<&Scannable> = all
        .iter()
        .filter(|u| week_of(&u.upload.json).is_none_or(|w| private_weeks.contains(&w)))
        .collect();
    let mut findings = Vec::new();
    let mut reported = BTreeSet::new();
    let mut check = |secret: Secret, scope: &[&Scannable], case_sensitive: bool| {
        for upload in scope {
            if upload.contains(secret.value, case_sensitive)
                && reported.insert((secret.what, secret.value.to_string()))
            {
                findings.push(
                    Finding::new(
                        FindingCode::PiiLeak,
                        format!(
                            "{} `{}` found in upload {}",
                            secret.what, secret.value, upload.upload.receipt_id
                        ),
                    )
                    .site(secret.site),
                );
            }
        }
    };
    let everywhere: Vec<&Scannable> = all.iter().collect();
    for site in &hierarchy.sites {
        // Site codes are three characters: matched case-sensitively, or `cas` (a site type)
        // would be taken for the code `CAS`.
        check(
            Secret {
                value: &site.code,
                what: "site code",
                site: &site.code,
            },
            &private,
            true,
        );
        check(
            Secret {
                value: &site.name,
                what: "site name",
                site: &site.code,
            },
            &private,
            false,
        );
        for name in generate::network_names(site) {
            check(
                Secret {
                    value: &name,
                    what: "boundary or boundary group",
                    site: &site.code,
                },
                &private,
                false,
            );
        }
        for name in generate::custom_table_names(site) {
            check(
                Secret {
                    value: &name,
                    what: "custom table name",
                    site: &site.code,
                },
                &everywhere,
                false,
            );
        }
        if private.is_empty() {
            continue;
        }
        let kinds = [
            "computer name",
            "user name",
            "IP address",
            "MAC address",
            "e-mail address",
        ];
        for client in generate::clients(site) {
            for (value, what) in client.personal_values().into_iter().zip(kinds) {
                check(
                    Secret {
                        value,
                        what,
                        site: &site.code,
                    },
                    &private,
                    false,
                );
            }
        }
    }
    findings
}

fn week_of(json: &[u8]) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct Head {
        period: Period,
    }
    #[derive(serde::Deserialize)]
    struct Period {
        week: u32,
    }
    serde_json::from_slice::<Head>(json)
        .ok()
        .map(|h| h.period.week)
}
