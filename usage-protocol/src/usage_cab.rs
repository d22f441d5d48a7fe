//! The service connection tool's usage-data cabinet: a Microsoft Cabinet (.cab) file holding the
//! week's usage payload and a `SiteVersion` text file. `sct prepare` writes it; the service reads
//! it when `sct connect` uploads it. Reading never panics on a damaged file: a corrupted cabinet
//! is an error that says what is wrong.

use std::io::{Cursor, Read, Write};

/// The payload inside the cabinet (the JSON of [`crate::payload::UsagePayload`]).
pub const PAYLOAD_FILE: &str = "UsageData.json";
/// The product version of the site that prepared the cabinet, as text.
pub const SITE_VERSION_FILE: &str = "SiteVersion";

#[derive(Debug, thiserror::Error)]
pub enum CabError {
    #[error("not a readable cabinet file: {0}")]
    NotACabinet(String),
    #[error("the cabinet has no `{0}` file")]
    Missing(&'static str),
    #[error("`{file}` in the cabinet is damaged: {message}")]
    Damaged { file: &'static str, message: String },
    #[error("`{file}` in the cabinet is larger than {limit} bytes")]
    TooLarge { file: &'static str, limit: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCab {
    pub payload_json: Vec<u8>,
    pub site_version: String,
}

/// Writes a usage cabinet. `date` stamps both files, so the same inputs give the same bytes.
pub fn write(
    payload_json: &[u8],
    site_version: &str,
    date: time::Date,
) -> std::io::Result<Vec<u8>> {
    let stamp = time::PrimitiveDateTime::new(date, time::Time::MIDNIGHT);
    let mut builder = cab::CabinetBuilder::new();
    let folder = builder.add_folder(cab::CompressionType::MsZip);
    folder.add_file(SITE_VERSION_FILE).set_datetime(stamp);
    folder.add_file(PAYLOAD_FILE).set_datetime(stamp);
    let mut writer = builder.build(Cursor::new(Vec::new()))?;
    while let Some(mut file) = writer.next_file()? {
        match file.file_name() {
            SITE_VERSION_FILE => file.write_all(site_version.as_bytes())?,
            _ => file.write_all(payload_json)?,
        }
    }
    Ok(writer.finish()?.into_inner())
}

/// Reads a usage cabinet, refusing files that inflate past `limit` bytes.
pub fn read(bytes: &[u8], limit: u64) -> Result<UsageCab, CabError> {
    // The cab crate trusts header fields in places (`check_structure` refuses what it can see);
    // a damaged file must be an error, never a crash of the service, so a panic inside the crate
    // is caught and reported as damage.
    std::panic::catch_unwind(|| read_inner(bytes, limit)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the cabinet reader gave up".into());
        Err(CabError::NotACabinet(message))
    })
}

/// Checks the cabinet's structure before the `cab` crate sees the bytes: the crate trusts some
/// of its fields and has panicked on damaged files (caught in [`read`], but a check that names
/// the damage is better than a caught panic). A usage cabinet is version 1.3, whole, without a
/// reserved area, with folders of MS-ZIP (or stored) data blocks that lie inside the file, and
/// files that lie inside their folder's data. Found by the `usage_cab` fuzz target: a folder
/// without data blocks, and a file reaching past its folder's data, made the crate index out of
/// bounds.
fn check_structure(bytes: &[u8]) -> Result<(), CabError> {
    let bad = |what: &str| Err(CabError::NotACabinet(what.to_string()));
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    const HEADER: usize = 36;
    if bytes.len() < HEADER || &bytes[..4] != b"MSCF" {
        return bad("no MSCF cabinet header");
    }
    if u32_at(8) != Some(bytes.len() as u32) {
        return bad("the header's cabinet size is not the file's size (truncated or padded)");
    }
    let first_file = u32_at(16).unwrap_or(0) as usize;
    if first_file < HEADER || first_file >= bytes.len() {
        return bad("the header's file table lies outside the cabinet");
    }
    if (bytes[25], bytes[24]) != (1, 3) {
        return bad("not a version 1.3 cabinet");
    }
    let (folders, files) = (u16_at(26).unwrap_or(0), u16_at(28).unwrap_or(0));
    if folders == 0 || folders > 4 || files == 0 || files > 16 {
        return bad("a usage cabinet holds a folder or two of a few files");
    }
    if u16_at(30) != Some(0) {
        // Flags for a cabinet set (previous or next cabinet) or a reserved area are legal, but
        // no service connection tool writes them, and they move the tables this check reads.
        return bad("a cabinet with flags (a cabinet set, a reserved area) is not a usage cabinet");
    }
    // Each folder (CFFOLDER): its data blocks (CFDATA) inside the file; the sum of their
    // uncompressed sizes is how far into the folder a file may reach.
    let mut folder_sizes = Vec::new();
    for folder in 0..usize::from(folders) {
        let at = HEADER + 8 * folder;
        if at + 8 > first_file {
            return bad("the folder table runs into the file table");
        }
        let (Some(mut block), Some(blocks), Some(compression)) =
            (u32_at(at), u16_at(at + 4), u16_at(at + 6))
        else {
            return bad("a folder entry is cut short");
        };
        if blocks == 0 {
            return bad("a folder without data blocks");
        }
        if compression & 0x0f > 1 {
            return bad("a folder compressed other than with MS-ZIP");
        }
        let mut size: u64 = 0;
        for _ in 0..blocks {
            let at = block as usize;
            let (Some(compressed), Some(uncompressed)) = (u16_at(at + 4), u16_at(at + 6)) else {
                return bad("a data block lies outside the cabinet");
            };
            let end = at + 8 + usize::from(compressed);
            if at < HEADER || end > bytes.len() {
                return bad("a data block lies outside the cabinet");
            }
            size += u64::from(uncompressed);
            block = end as u32;
        }
        folder_sizes.push(size);
    }
    // Each file (CFFILE): in a folder that exists, inside that folder's data, with a name.
    let mut at = first_file;
    for _ in 0..files {
        let (Some(length), Some(offset), Some(folder)) =
            (u32_at(at), u32_at(at + 4), u16_at(at + 8))
        else {
            return bad("a file entry is cut short");
        };
        let Some(size) = folder_sizes.get(usize::from(folder)) else {
            return bad("a file names a folder the cabinet does not have");
        };
        if u64::from(offset) + u64::from(length) > *size {
            return bad("a file reaches past its folder's data");
        }
        let name_at = at + 16;
        let Some(name_len) = bytes
            .get(name_at..)
            .and_then(|b| b.iter().position(|c| *c == 0))
        else {
            return bad("a file name is not terminated");
        };
        at = name_at + name_len + 1;
    }
    Ok(())
}

fn read_inner(bytes: &[u8], limit: u64) -> Result<UsageCab, CabError> {
    check_structure(bytes)?;
    let mut cabinet =
        cab::Cabinet::new(Cursor::new(bytes)).map_err(|e| CabError::NotACabinet(e.to_string()))?;
    let payload_json = read_file(&mut cabinet, PAYLOAD_FILE, limit)?;
    let version = read_file(&mut cabinet, SITE_VERSION_FILE, 1024)?;
    let site_version = String::from_utf8(version)
        .map_err(|_| CabError::Damaged {
            file: SITE_VERSION_FILE,
            message: "not UTF-8 text".into(),
        })?
        .trim()
        .to_string();
    Ok(UsageCab {
        payload_json,
        site_version,
    })
}

fn read_file(
    cabinet: &mut cab::Cabinet<Cursor<&[u8]>>,
    name: &'static str,
    limit: u64,
) -> Result<Vec<u8>, CabError> {
    let entry = cabinet
        .get_file_entry(name)
        .ok_or(CabError::Missing(name))?;
    if u64::from(entry.uncompressed_size()) > limit {
        return Err(CabError::TooLarge { file: name, limit });
    }
    let reader = cabinet.read_file(name).map_err(|e| CabError::Damaged {
        file: name,
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| CabError::Damaged {
            file: name,
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(CabError::TooLarge { file: name, limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> time::Date {
        time::Date::from_calendar_date(2026, time::Month::January, 12).unwrap()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let a = write(b"{\"x\":1}", "5.00.8540.1000", date()).unwrap();
        let b = write(b"{\"x\":1}", "5.00.8540.1000", date()).unwrap();
        assert_eq!(a, b);
        let cab = read(&a, 1 << 20).unwrap();
        assert_eq!(cab.payload_json, b"{\"x\":1}");
        assert_eq!(cab.site_version, "5.00.8540.1000");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let good = write(&vec![b'a'; 100_000], "5.00.8540.1000", date()).unwrap();
        assert!(read(b"MSCF", 1 << 20).is_err());
        assert!(read(b"not a cabinet at all", 1 << 20).is_err());
        // Flip bytes all over the file: every outcome must be Ok or Err, never a panic.
        for at in (0..good.len()).step_by(97) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let _ = read(&bad, 1 << 20);
        }
        let mut truncated = good.clone();
        truncated.truncate(good.len() / 2);
        assert!(read(&truncated, 1 << 20).is_err());
    }

    #[test]
    fn an_oversized_payload_is_refused() {
        let cab = write(&vec![b'a'; 10_000], "5.00.8540.1000", date()).unwrap();
        assert!(matches!(read(&cab, 1000), Err(CabError::TooLarge { .. })));
    }
}
