//! The usage-data payload: the one contract between a service connection point and the cloud
//! service. The harness builds it, the mock upstream accepts it, and the service
//! connection tool carries it inside a .cab, so it is defined once, here.
//!
//! Unknown fields are refused: a payload the real service would not understand must not be
//! silently accepted by its mock.

use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning; the upstream refuses versions it does not know.
///
/// Version 2: every `results[]` entry carries its own `week` and `period_start` (late rows ride
/// in a later upload with their own week), the top-level `period` is the upload's own cycle, and
/// an upload may be one `part` of a cycle's backlog.
pub const SCHEMA_VERSION: u32 = 2;

/// The versions the service accepts.
pub const SUPPORTED_VERSIONS: [u32; 2] = [1, 2];

/// A result row: column name to value. A `BTreeMap` keeps serialisation order stable, which is
/// what makes "same seed, same payload bytes" hold.
pub type Row = std::collections::BTreeMap<String, serde_json::Value>;

/// The payload with its rows: what the harness builds and reads back.
pub type UsagePayload = Payload<Row>;
/// One probe's rows from one site's run.
pub type ProbeResult = Entry<Row>;
/// The payload with every row checked for its shape and then dropped: what the service needs
/// to validate and store an upload. Its memory follows the number of entries, not of rows —
/// a few kilobytes of gzip'd tiny rows would otherwise inflate to gigabytes of maps.
pub type PayloadShape = Payload<RowShape>;

/// A row seen only for its shape: a JSON object, whatever it holds. Zero-sized, so a vector of
/// a million of them takes no memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowShape;

/// A row, as the API describes it: a JSON object of column values.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RowShape {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ))
            .description(Some("A result row: column name to value"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RowShape {}

impl<'de> Deserialize<'de> for RowShape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RowShape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row: a JSON object of column values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RowShape, A::Error> {
                while map.next_entry::<Checked, Checked>()?.is_some() {}
                Ok(RowShape)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Any JSON value, read the way a full reading reads it — its numbers in range, its strings'
/// escapes valid, its nesting within serde_json's limit — and then dropped. (`IgnoredAny` skips
/// without looking: the service took rows a full reading refuses. Found by an attack.)
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Checked;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Checked, E> {
                if v.is_finite() {
                    Ok(Checked)
                } else {
                    Err(E::custom("number out of range"))
                }
            }
            fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_unit<E>(self) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Checked, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Checked)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Checked, A::Error> {
                while map.next_entry::<Checked, Checked>()?.is_some() {}
                Ok(Checked)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Payload<R> {
    pub schema_version: u32,
    /// `tel_hash` of the hierarchy ID (`fnGetHierarchyID()`), never the ID itself.
    pub hierarchy_id: String,
    pub product_version: String,
    /// `basic`, `enhanced` or `full`.
    pub level: String,
    /// `online` or `offline`.
    pub mode: String,
    pub period: Period,
    /// Which part of the cycle's backlog this upload is (version 2; absent when it is whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    pub sites: Vec<SiteEntry>,
    pub results: Vec<Entry<R>>,
}

/// A backlog too large for one upload goes in parts, each under its own `Idempotency-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// 1 for the first part.
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Weekly cycle number, 1 for the first run seven days after install.
    pub week: u32,
    /// The day the weekly queries ran, `YYYY-MM-DD`.
    pub start: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    /// `tel_hash` of the site code.
    pub site: String,
    #[serde(rename = "type")]
    pub site_type: String,
    pub version: String,
    pub status: String,
    pub clients: u64,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Entry<R> {
    pub probe: String,
    /// `tel_hash` of the site code the rows were collected at.
    pub site: String,
    /// The site's weekly run the rows come from (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
    /// The first day of that run's period, `YYYY-MM-DD` (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<String>,
    pub rows: Vec<R>,
}

impl<R> Entry<R> {
    /// The run the entry belongs to: its own week in version 2, the upload's in version 1.
    pub fn week_in(&self, payload: &Payload<R>) -> u32 {
        self.week.unwrap_or(payload.period.week)
    }
}

/// What is wrong with a payload that parsed as JSON but breaks the contract.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not valid JSON for the usage schema: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema_version {0} is not supported (this service knows versions 1 and 2)")]
    SchemaVersion(u32),
    #[error("field `{field}`: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

impl<R: serde::de::DeserializeOwned> Payload<R> {
    /// Parses and validates a decompressed payload.
    pub fn from_json(bytes: &[u8]) -> Result<Self, PayloadError> {
        // UTF-8 first, for every reading alike: skipping a row's contents (`RowShape`) does not
        // look inside its strings, and a body one reader takes must be one every reader takes.
        // (Found by the `payload_json` fuzz target.)
        let text = std::str::from_utf8(bytes).map_err(|e| PayloadError::Field {
            field: "(body)",
            problem: format!("not UTF-8 text: {e}"),
        })?;
        let payload: Self = serde_json::from_str(text)?;
        payload.validate()?;
        Ok(payload)
    }
}

impl<R> Payload<R> {
    pub fn validate(&self) -> Result<(), PayloadError> {
        if !SUPPORTED_VERSIONS.contains(&self.schema_version) {
            return Err(PayloadError::SchemaVersion(self.schema_version));
        }
        self.validate_version_fields()?;
        if !is_sha256_base64(&self.hierarchy_id) {
            return Err(PayloadError::Field {
                field: "hierarchy_id",
                problem: "must be a base64 SHA-256 digest (44 characters)".into(),
            });
        }
        if !matches!(self.level.as_str(), "basic" | "enhanced" | "full") {
            return Err(PayloadError::Field {
                field: "level",
                problem: format!("`{}` is not one of basic, enhanced, full", self.level),
            });
        }
        if !matches!(self.mode.as_str(), "online" | "offline") {
            return Err(PayloadError::Field {
                field: "mode",
                problem: format!("`{}` is not one of online, offline", self.mode),
            });
        }
        if self.period.week == 0 {
            return Err(PayloadError::Field {
                field: "period.week",
                problem: "weeks are counted from 1".into(),
            });
        }
        if chrono_like_date(&self.period.start).is_none() {
            return Err(PayloadError::Field {
                field: "period.start",
                problem: format!("`{}` is not a YYYY-MM-DD date", self.period.start),
            });
        }
        if self.sites.is_empty() {
            return Err(PayloadError::Field {
                field: "sites",
                problem: "a hierarchy has at least one site".into(),
            });
        }
        for site in &self.sites {
            if !is_sha256_base64(&site.site) {
                return Err(PayloadError::Field {
                    field: "sites[].site",
                    problem: "must be a base64 SHA-256 digest, not a site code".into(),
                });
            }
        }
        for result in &self.results {
            if !is_sha256_base64(&result.site) {
                return Err(PayloadError::Field {
                    field: "results[].site",
                    problem: "must be a base64 SHA-256 digest, not a site code".into(),
                });
            }
        }
        Ok(())
    }
}

impl<R> Payload<R> {
    /// Version 2 entries name their week and period; version 1 entries do not, and have no parts.
    fn validate_version_fields(&self) -> Result<(), PayloadError> {
        let v2 = self.schema_version >= 2;
        let field = |field, problem: &str| {
            Err(PayloadError::Field {
                field,
                problem: problem.into(),
            })
        };
        if !v2 && self.part.is_some() {
            return field("part", "version 1 payloads have no parts");
        }
        if let Some(part) = self.part
            && !(part.index >= 1 && part.index <= part.count)
        {
            return field("part", "index must be 1 to count");
        }
        for result in &self.results {
            match (v2, result.week, &result.period_start) {
                (true, Some(0), _) => return field("results[].week", "weeks are counted from 1"),
                (true, Some(_), Some(start)) if chrono_like_date(start).is_none() => {
                    return field("results[].period_start", "not a YYYY-MM-DD date");
                }
                (true, Some(_), Some(_)) | (false, None, None) => {}
                (true, _, _) => {
                    return field(
                        "results[].week",
                        "version 2 entries carry `week` and `period_start`",
                    );
                }
                (false, _, _) => {
                    return field(
                        "results[].week",
                        "version 1 entries have no `week` or `period_start`",
                    );
                }
            }
        }
        Ok(())
    }
}

/// Whether `value` is a base64 SHA-256 digest, the form of every hashed ID.
pub fn is_sha256_base64(value: &str) -> bool {
    use base64::Engine as _;
    value.len() == 44
        && base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// `YYYY-MM-DD` with plausible ranges; the service only needs the shape, not a calendar.
fn chrono_like_date(value: &str) -> Option<(u32, u32, u32)> {
    let mut parts = value.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}
