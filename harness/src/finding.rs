//! Findings: what the checker (and the pipeline's stages) report about a run. At the bottom of
//! the module graph: every stage may report one, and it depends on nothing of the harness.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a finding weighs on a run: an unlisted error fails it; an info is reported and never
/// fails it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Error,
}

macro_rules! finding_codes {
    ($($variant:ident = $code:literal, $severity:ident, $meaning:literal;)*) => {
        /// Every finding the harness can report; scenarios name them in `[expect] findings` by
        /// their snake_case code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FindingCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl FindingCode {
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant),*];

            /// The code as scenarios and reports spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => $code,)*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(FindingCode::$variant => Severity::$severity,)*
                }
            }

            /// What the finding means, one line.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => $meaning,)*
                }
            }
        }
    };
}

finding_codes! {
    ProbeMismatch = "probe_mismatch", Error, "a probe's rows differ from its oracle's";
    MissingProbe = "missing_probe", Error, "a probe the level requires was not sent";
    UnexpectedProbe = "unexpected_probe", Error, "a probe above the level, or outside the catalog, was sent";
    ProbeError = "probe_error", Error, "a probe failed at a site";
    MissingSite = "missing_site", Error, "a site's data is missing from an upload";
    UnexpectedSite = "unexpected_site", Error, "an upload names a site the hierarchy does not have";
    SiteListMismatch = "site_list_mismatch", Error, "the site list differs from the model's";
    PiiLeak = "pii_leak", Error, "personal or identifying data left the hierarchy";
    HierarchyHash = "hierarchy_hash", Error, "an upload carries the wrong hashed hierarchy ID";
    LevelMismatch = "level_mismatch", Error, "an upload states another level than the one in force";
    PayloadInvalid = "payload_invalid", Error, "a stored upload does not parse as a payload";
    MissingUpload = "missing_upload", Error, "a week has no accepted upload";
    UploadCount = "upload_count", Error, "an upload for a week the run did not have, or from an unknown hierarchy";
    UploadFailed = "upload_failed", Error, "an upload (or -connect) gave up";
    CabNameClash = "cab_name_clash", Error, "two hierarchies prepared cabinets under one name";
    UpdatePacks = "update_packs", Error, "the site imported other update packs than the service offers";
    BudgetExceeded = "budget_exceeded", Error, "the weekly collection took longer than its budget";
    DataNotDelivered = "data_not_delivered", Error, "a probe run never arrived, and a fault in the schedule explains why";
    DataLost = "data_lost", Error, "a probe run never arrived and nothing explains it (no [expect] can excuse this)";
    DuplicateEntry = "duplicate_entry", Error, "a probe run arrived more than once, or twice in one upload";
    DuplicateSite = "duplicate_site", Error, "an upload lists a site twice";
    ReceiptMismatch = "receipt_mismatch", Error, "a stored body does not match the digest in its receipt";
    LateDelivery = "late_delivery", Info, "a probe run arrived in a later upload than the first that could have carried it";
    UploadRetried = "upload_retried", Info, "an upload needed more than one attempt";
    UploadThrottled = "upload_throttled", Info, "the service throttled an upload (429 with Retry-After)";
    BeyondSupportedScale = "beyond_supported_scale", Info, "a site's counts are above what is supported (allowed up to a hard cap)";
}

/// A check of a run: each finding code belongs to one. CI sees each check that applies to a
/// scenario as a test case, with the time it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// Each stored body matches the digest its receipt states.
    Receipts,
    /// Each stored upload parses as a payload.
    Payloads,
    /// What each upload carries: rows equal to the oracles', the level, the sites, the hash.
    Contents,
    /// An upload in every cycle, none for a cycle the run did not have.
    Cycles,
    /// Every probe run arrives exactly once, or a fault explains why not.
    Delivery,
    /// No personal or identifying data left the hierarchy.
    PersonalData,
    /// The update packs a site imported are the ones the service offers it (offline).
    UpdatePacks,
    /// How the uploads went: given up, retried, throttled; cabinet names (the submit stage).
    Transport,
    /// The weekly collection within the scenario's budget.
    Budgets,
    /// Site counts within what is supported.
    Scale,
}

impl Check {
    pub const ALL: &'static [Check] = &[
        Check::Receipts,
        Check::Payloads,
        Check::Contents,
        Check::Cycles,
        Check::Delivery,
        Check::PersonalData,
        Check::UpdatePacks,
        Check::Transport,
        Check::Budgets,
        Check::Scale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Receipts => "receipts",
            Check::Payloads => "payloads",
            Check::Contents => "contents",
            Check::Cycles => "cycles",
            Check::Delivery => "delivery",
            Check::PersonalData => "personal_data",
            Check::UpdatePacks => "update_packs",
            Check::Transport => "transport",
            Check::Budgets => "budgets",
            Check::Scale => "scale",
        }
    }

    /// The finding codes this check reports.
    pub fn codes(self) -> impl Iterator<Item = FindingCode> {
        FindingCode::ALL
            .iter()
            .copied()
            .filter(move |c| c.check() == self)
    }
}

/// A string naming one of the values `names` gives.
fn string_of(name: &str, names: Vec<&'static str>) -> schemars::Schema {
    schemars::json_schema!({
        "title": name,
        "type": "string",
        "enum": names,
    })
}

impl schemars::JsonSchema for Check {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_of("Check", Check::ALL.iter().map(|c| c.as_str()).collect())
    }
}

impl schemars::JsonSchema for FindingCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FindingCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_of(
            "FindingCode",
            FindingCode::ALL.iter().map(|c| c.as_str()).collect(),
        )
    }
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FindingCode {
    /// The check that reports this code.
    pub fn check(self) -> Check {
        use FindingCode::*;
        match self {
            ReceiptMismatch => Check::Receipts,
            PayloadInvalid => Check::Payloads,
            ProbeMismatch | MissingProbe | UnexpectedProbe | ProbeError | MissingSite
            | UnexpectedSite | SiteListMismatch | HierarchyHash | LevelMismatch | DuplicateSite => {
                Check::Contents
            }
            MissingUpload | UploadCount => Check::Cycles,
            DataNotDelivered | DataLost | DuplicateEntry | LateDelivery => Check::Delivery,
            PiiLeak => Check::PersonalData,
            UpdatePacks => Check::UpdatePacks,
            UploadFailed | UploadRetried | UploadThrottled | CabNameClash => Check::Transport,
            BudgetExceeded => Check::Budgets,
            BeyondSupportedScale => Check::Scale,
        }
    }

    /// Whether a scenario can list the code: `data_lost` is never an expected outcome.
    pub fn excusable(self) -> bool {
        self != FindingCode::DataLost
    }

    /// The code named by `text`, as in a scenario's `[expect] findings`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Read back from a kept run's record (`harness check`).
impl<'de> Deserialize<'de> for FindingCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FindingCode::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{text}`")))
    }
}

/// One thing a run found, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub week: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe: Option<String>,
}

impl Finding {
    pub fn new(code: FindingCode, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            week: None,
            site: None,
            probe: None,
        }
    }

    pub fn week(mut self, week: u32) -> Self {
        self.week = Some(week);
        self
    }

    pub fn site(mut self, site: &str) -> Self {
        self.site = Some(site.to_string());
        self
    }

    pub fn probe(mut self, probe: &str) -> Self {
        self.probe = Some(probe.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for code in FindingCode::ALL {
            assert_eq!(FindingCode::parse(code.as_str()), Some(*code));
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(
                serde_json::to_string(code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
        assert_eq!(FindingCode::parse("no_such_code"), None);
    }

    #[test]
    fn a_finding_reads_back_as_it_was_written() {
        let finding = Finding::new(FindingCode::ProbeError, "TEL_X failed")
            .week(2)
            .site("P01")
            .probe("TEL_X");
        let json = serde_json::to_string(&finding).unwrap();
        assert_eq!(serde_json::from_str::<Finding>(&json).unwrap(), finding);
        let bare = serde_json::to_string(&Finding::new(FindingCode::UploadRetried, "m")).unwrap();
        assert_eq!(
            serde_json::from_str::<Finding>(&bare).unwrap().code,
            FindingCode::UploadRetried
        );
        assert!(serde_json::from_str::<FindingCode>("\"no_such_code\"").is_err());
    }
}
