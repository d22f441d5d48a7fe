//! Reading a file a user, a hostile folder or a damaged data folder hands us: only a regular
//! file, and never more than a bound, so `/dev/zero`, a pipe or a huge file is refused, not read
//! until memory runs out. Shared by the service connection tool's `-import`, the loaders of a
//! user's probes, exports and reports, and the mock service's token and legacy receipt files,
//! each with its own policy on links.

use std::io::Read;
use std::path::Path;

/// Whether a link is followed to the file it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    /// A link is refused as not a regular file.
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not a regular file")]
    NotRegular,
    #[error("{len} bytes, more than the {limit} allowed")]
    TooLarge { len: u64, limit: u64 },
    #[error("grew past the {limit} bytes allowed")]
    Grew { limit: u64 },
}

/// The bytes of `path`, a regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64, links: Links) -> Result<Vec<u8>, BoundedReadError> {
    let meta = match links {
        Links::Follow => fs_err::metadata(path)?,
        Links::Refuse => fs_err::symlink_metadata(path)?,
    };
    if !meta.file_type().is_file() {
        return Err(BoundedReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(BoundedReadError::TooLarge {
            len: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::Grew { limit });
    }
    Ok(bytes)
}
