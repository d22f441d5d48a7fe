//! The product's one-way hash for identifying strings.
//!
//! Configuration Manager never sends an identifying value in clear text at Basic and Enhanced:
//! it sends `base64(SHA-256(bytes))`. The bytes depend on what the value is:
//!
//! - a value is a GUID exactly when .NET's `Guid.Parse` accepts it (as .NET 8's `Guid.cs` reads
//!   it): its N, D, B, P and X formats (`6f1b3e2a9c4d4e7b8a213f5c0d9e7b14`, `6f1b3e2a-9c4d-…`,
//!   `{…}`, `(…)`, `{0x6f1b3e2a,0x9c4d,0x4e7b,{0x8a,…}}`) after white space is trimmed from both
//!   ends, with the leniencies .NET keeps for compatibility (in D, a group may start with `+` or
//!   `0x` within its width; in X, white space anywhere, any number of leading zeros, `+` and
//!   `0x` after the `0x`, and the two short groups cut to 16 bits). `urn:uuid:…`, other
//!   characters before or after, and anything else are not GUIDs. A GUID is hashed over its 16
//!   bytes in `Guid.ToByteArray()` order (first three groups little-endian);
//! - any other value is hashed over its UTF-16LE code units, as it is (untrimmed).
//!
//! White space is what .NET's `char.IsWhiteSpace` says, which is Unicode's `White_Space`
//! property, the one `char::is_whitespace` follows. Both SQL dialects compute the same
//! function: SQLite through [`tel_hash`] registered as a SQL function, T-SQL through
//! `dbo.fnTelHash` (`harness/sql/mssql/hash.sql`). `harness/sql/hash_vectors.csv` is the shared
//! table of vectors: the unit tests here check it, and the SQL Server suite checks it on a server.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Hashes one identifying value the way the product does.
pub fn tel_hash(value: &str) -> String {
    let digest = match parse_guid(value) {
        Some(bytes) => Sha256::digest(bytes),
        None => {
            let utf16: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
            Sha256::digest(&utf16)
        }
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The GUID `value` is to .NET's `Guid.Parse`, as the 16 bytes of `Guid.ToByteArray()`; `None`
/// when `Guid.Parse` rejects it. Works on UTF-16 code units, as .NET does.
pub fn parse_guid(value: &str) -> Option<[u8; 16]> {
    let units: Vec<u16> = value.encode_utf16().collect();
    let s = trim(&units);
    if s.len() < 32 {
        return None;
    }
    let guid = match s[0] {
        c if c == u16::from(b'(') => exact_wrapped(s, b'(', b')'),
        c if c == u16::from(b'{') && s[9] == u16::from(b'-') => exact_wrapped(s, b'{', b'}'),
        c if c == u16::from(b'{') => exact_x(&eat_white_space(s)),
        _ if s[8] == u16::from(b'-') => exact_d(s),
        _ => exact_n(s),
    }?;
    Some(guid.to_byte_array())
}

/// A GUID's fields, as .NET keeps them.
struct Guid {
    a: u32,
    b: u16,
    c: u16,
    d: [u8; 8],
}

impl Guid {
    fn to_byte_array(&self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&self.a.to_le_bytes());
        bytes[4..6].copy_from_slice(&self.b.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.c.to_le_bytes());
        bytes[8..].copy_from_slice(&self.d);
        bytes
    }
}

fn is_white_space(unit: u16) -> bool {
    char::from_u32(unit.into()).is_some_and(char::is_whitespace)
}

fn trim(units: &[u16]) -> &[u16] {
    let start = units.iter().position(|u| !is_white_space(*u));
    let end = units.iter().rposition(|u| !is_white_space(*u));
    match (start, end) {
        (Some(start), Some(end)) => &units[start..=end],
        _ => &[],
    }
}

fn eat_white_space(units: &[u16]) -> Vec<u16> {
    units
        .iter()
        .copied()
        .filter(|u| !is_white_space(*u))
        .collect()
}

fn hex_digit(unit: u16) -> Option<u32> {
    char::from_u32(unit.into())
        .filter(char::is_ascii_hexdigit)
        .and_then(|c| c.to_digit(16))
}

/// .NET's `TryParseHex`: an optional `+`, then an optional `0x`/`0X`, then hex digits. The value
/// (32 bits) and whether it overflowed (more than 8 significant digits); `None` for a character
/// that is not a hex digit.
fn parse_hex(mut s: &[u16]) -> Option<(u32, bool)> {
    if s.first() == Some(&u16::from(b'+')) {
        s = &s[1..];
    }
    if s.len() > 1 && s[0] == u16::from(b'0') && (s[1] | 0x20) == u16::from(b'x') {
        s = &s[2..];
    }
    let zeros = s.iter().take_while(|u| **u == u16::from(b'0')).count();
    let mut value = 0u32;
    let mut digits = 0;
    for unit in &s[zeros..] {
        value = value.wrapping_mul(16).wrapping_add(hex_digit(*unit)?);
        digits += 1;
    }
    Some((value, digits > 8))
}

/// Exactly `s.len()` hex digits, nothing else.
fn strict_hex(s: &[u16]) -> Option<u32> {
    s.iter().try_fold(0u32, |value, unit| {
        Some(value.wrapping_mul(16) + hex_digit(*unit)?)
    })
}

/// `{D}` or `(D)`.
fn exact_wrapped(s: &[u16], open: u8, close: u8) -> Option<Guid> {
    if s.len() != 38 || s[0] != u16::from(open) || s[37] != u16::from(close) {
        return None;
    }
    exact_d(&s[1..37])
}

/// `dddddddd-dddd-dddd-dddd-dddddddddddd`, a group (not the last eight digits) also taking a
/// `+` and a `0x` within its width.
fn exact_d(s: &[u16]) -> Option<Guid> {
    let dash = u16::from(b'-');
    if s.len() != 36 || [8, 13, 18, 23].iter().any(|i| s[*i] != dash) {
        return None;
    }
    let group = |from: usize, to: usize| parse_hex(&s[from..to]).map(|(value, _)| value);
    let (a, b, c) = (group(0, 8)?, group(9, 13)?, group(14, 18)?);
    let (de, fg) = (group(19, 23)?, group(24, 28)?);
    let hijk = strict_hex(&s[28..36])?;
    let mut d = [0u8; 8];
    d[..2].copy_from_slice(&(de as u16).to_be_bytes());
    d[2..4].copy_from_slice(&(fg as u16).to_be_bytes());
    d[4..].copy_from_slice(&hijk.to_be_bytes());
    Some(Guid {
        a,
        b: b as u16,
        c: c as u16,
        d,
    })
}

/// 32 hex digits.
fn exact_n(s: &[u16]) -> Option<Guid> {
    if s.len() != 32 {
        return None;
    }
    let mut d = [0u8; 8];
    d[..4].copy_from_slice(&strict_hex(&s[16..24])?.to_be_bytes());
    d[4..].copy_from_slice(&strict_hex(&s[24..32])?.to_be_bytes());
    Some(Guid {
        a: strict_hex(&s[..8])?,
        b: strict_hex(&s[8..12])? as u16,
        c: strict_hex(&s[12..16])? as u16,
        d,
    })
}

/// True when `s[i..]` starts with `0x` or `0X`.
fn is_hex_prefix(s: &[u16], i: usize) -> bool {
    i + 1 < s.len() && s[i] == u16::from(b'0') && (s[i + 1] | 0x20) == u16::from(b'x')
}

/// `{0xdddddddd,0xdddd,0xdddd,{0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd}}` with its white space
/// already eaten, read as .NET's `TryParseExactX` reads it.
fn exact_x(s: &[u16]) -> Option<Guid> {
    // The length of the number starting at `start`, up to `end` (which must follow it).
    let number = |start: usize, end: u8| {
        let len = s.get(start..)?.iter().position(|u| *u == u16::from(end))?;
        (len > 0).then_some(len)
    };
    // A number that must not overflow 32 bits.
    let value = |start: usize, len: usize| match parse_hex(&s[start..start + len]) {
        Some((value, false)) => Some(value),
        _ => None,
    };
    if s.first() != Some(&u16::from(b'{')) || !is_hex_prefix(s, 1) {
        return None;
    }
    let (mut start, mut len) = (3, number(3, b',')?);
    let a = value(start, len)?;
    let mut short = [0u16; 2];
    for field in &mut short {
        if !is_hex_prefix(s, start + len + 1) {
            return None;
        }
        start += len + 3;
        len = number(start, b',')?;
        *field = value(start, len)? as u16;
    }
    if s.get(start + len + 1) != Some(&u16::from(b'{')) {
        return None;
    }
    len += 1;
    let mut d = [0u8; 8];
    for (i, byte) in d.iter_mut().enumerate() {
        if !is_hex_prefix(s, start + len + 1) {
            return None;
        }
        start += len + 3;
        len = number(start, if i < 7 { b',' } else { b'}' })?;
        *byte = u8::try_from(value(start, len)?).ok()?;
    }
    let close = start + len + 1;
    (close + 1 == s.len() && s[close] == u16::from(b'}')).then_some(Guid {
        a,
        b: short[0],
        c: short[1],
        d,
    })
}

/// The shared table of hash vectors (`harness/sql/hash_vectors.csv`).
pub const VECTORS_CSV: &str = include_str!("../sql/hash_vectors.csv");

/// One line of the shared table of vectors.
#[derive(Debug, Clone)]
pub struct HashVector {
    /// The input as the table writes it (escaped).
    pub input: String,
    /// The value to hash.
    pub value: String,
    /// The GUID `Guid.Parse` makes of it, in D form; `None` when it is not a GUID.
    pub guid: Option<String>,
    pub hash: String,
    pub note: String,
}

/// The vectors of [`VECTORS_CSV`], their inputs unescaped (`\t`, `\n`, `\r`, `\\`,
/// `\u{hex}`) and repeated as the table says.
pub fn vectors() -> Result<Vec<HashVector>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(VECTORS_CSV.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let [input, times, guid, hash, note] = [0, 1, 2, 3, 4].map(|i| record[i].to_string());
        let times: usize = times
            .parse()
            .map_err(|_| format!("{input}: {times} is not a repeat count"))?;
        out.push(HashVector {
            value: unescape(&input)?.repeat(times),
            input,
            guid: (!guid.is_empty()).then_some(guid),
            hash,
            note,
        });
    }
    Ok(out)
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('u') if chars.next() == Some('{') => {
                let code: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let c = u32::from_str_radix(&code, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("{text}: \\u{{{code}}} is not a character"))?;
                out.push(c);
            }
            other => return Err(format!("{text}: unknown escape \\{other:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{parse_guid, tel_hash, vectors};

    #[test]
    fn reference_vector_guid() {
        assert_eq!(
            tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14"),
            "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA="
        );
    }

    #[test]
    fn reference_vector_string() {
        assert_eq!(
            tel_hash("CM_P01"),
            "LXTAdW+rr08bhNEX/PI0UDacSYFAJDyF2nDxs+dqiI4="
        );
    }

    #[test]
    fn reference_vector_empty() {
        assert_eq!(tel_hash(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn guid_forms_hash_alike() {
        let plain = tel_hash("6f1b3e2a-9c4d-4e7b-8a21-3f5c0d9e7b14");
        assert_eq!(plain, tel_hash("{6F1B3E2A-9C4D-4E7B-8A21-3F5C0D9E7B14}"));
    }

    fn guid_text(bytes: [u8; 16]) -> String {
        uuid::Uuid::from_bytes_le(bytes).hyphenated().to_string()
    }

    #[test]
    fn every_shared_vector_hashes_as_listed() {
        let vectors = vectors().expect("the vector table reads");
        assert!(vectors.len() >= 30, "{} vectors", vectors.len());
        let mut wrong = Vec::new();
        for v in &vectors {
            let parsed = parse_guid(&v.value).map(guid_text);
            let hash = tel_hash(&v.value);
            if parsed != v.guid || hash != v.hash {
                wrong.push(format!(
                    "{} ({}): GUID {parsed:?} (listed {:?}), hash {hash} (listed {})",
                    v.input, v.note, v.guid, v.hash
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
