//! The append-only log the store keeps its uploads in, written by group commit.
//!
//! A file per upload (a body and a receipt, each written to a temporary name, fsync'd and
//! renamed) costs two file creations per upload, and creating files is what bounded the
//! service: most of its time went to the file system's inode allocation, not to fsync. Here
//! every upload is a record appended to one file, and uploads that arrive together share one
//! `fdatasync`: a single thread takes every record waiting, appends them with one write, flushes
//! once, and only then answers each. What an upload's answer acknowledges is on disk.
//!
//! A record is `UPL1`, the receipt's length (u32, little-endian), the body's length (u64), the
//! receipt (JSON) and the body. A crash can only cut the log short (appends are in order and
//! nothing was acknowledged past the last flush): on open, the log is read up to the first
//! record that is incomplete, not a record, or whose body does not have its receipt's SHA-256,
//! and cut there.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;
use usage_protocol::receipt::{Receipt, sha256_hex};

/// The log's file name, in the uploads folder.
pub const LOG_FILE: &str = "uploads.log";
const MAGIC: &[u8; 4] = b"UPL1";
const HEADER: usize = 4 + 4 + 8;
/// A receipt is a few hundred bytes; anything much longer is not one.
const MAX_RECEIPT: u32 = 1024 * 1024;
/// The most records one flush takes.
const MAX_BATCH: usize = 1024;

/// Where a stored upload's body is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyAt {
    pub offset: u64,
    pub len: u64,
}

/// One record as bytes: the header, the receipt and the body; and where the body starts in it.
pub fn encode(receipt: &Receipt, body: &[u8]) -> (Vec<u8>, u64) {
    let receipt = serde_json::to_vec(receipt).expect("a receipt serialises");
    let mut record = Vec::with_capacity(HEADER + receipt.len() + body.len());
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&(receipt.len() as u32).to_le_bytes());
    record.extend_from_slice(&(body.len() as u64).to_le_bytes());
    record.extend_from_slice(&receipt);
    let body_at = record.len() as u64;
    record.extend_from_slice(body);
    (record, body_at)
}

/// Whether reading a log checks each body against its receipt's digest: the store does, and
/// cuts the log at a body that fails; `harness check` reads what is there, so that it can
/// report a body altered since it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digests {
    Verify,
    Trust,
}

/// The records of the log at `path`, in order, and the length of the part that holds them
/// (where a torn tail starts). A missing log holds nothing.
pub fn read(path: &Path, digests: Digests) -> std::io::Result<(Vec<(Receipt, BodyAt)>, u64)> {
    let bytes = match fs_err::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some((receipt, body, next)) = record_at(&bytes, at) {
        if digests == Digests::Verify && sha256_hex(body) != receipt.body_sha256 {
            break;
        }
        let offset = (next - body.len()) as u64;
        records.push((
            receipt,
            BodyAt {
                offset,
                len: body.len() as u64,
            },
        ));
        at = next;
    }
    Ok((records, at as u64))
}

/// The record starting at `at`: its receipt, its body and where the next one starts; None when
/// what is there is not a whole record.
fn record_at(bytes: &[u8], at: usize) -> Option<(Receipt, &[u8], usize)> {
    let header = bytes.get(at..at + HEADER)?;
    if &header[..4] != MAGIC {
        return None;
    }
    let receipt_len = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let body_len = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if receipt_len > MAX_RECEIPT {
        return None;
    }
    let receipt_end = (at + HEADER).checked_add(receipt_len as usize)?;
    let body_end = receipt_end.checked_add(usize::try_from(body_len).ok()?)?;
    let receipt = serde_json::from_slice(bytes.get(at + HEADER..receipt_end)?).ok()?;
    let body = bytes.get(receipt_end..body_end)?;
    Some((receipt, body, body_end))
}

enum Job {
    Append {
        record: Vec<u8>,
        body_at: u64,
        done: oneshot::Sender<std::io::Result<u64>>,
    },
    Clear {
        done: oneshot::Sender<std::io::Result<()>>,
    },
}

/// The log of one uploads folder, and the thread that appends to it.
pub struct UploadLog {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
}

impl UploadLog {
    /// Opens (creating) the log in `dir`, cuts a torn tail, and starts its writer. Returns the
    /// records it holds.
    pub fn open(dir: &Path) -> std::io::Result<(Self, Vec<(Receipt, BodyAt)>)> {
        fs_err::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let (records, whole) = read(&path, Digests::Verify)?;
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .into_parts()
            .0;
        let len = file.metadata()?.len();
        if len > whole {
            tracing::warn!(
                path = %path.display(),
                cut = len - whole,
                "the upload log ends in a record never acknowledged (a crash while storing it): cut"
            );
            file.set_len(whole)?;
            file.sync_all()?;
        }
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("upload-log".into())
            .spawn(move || write_loop(file, whole, queue))?;
        Ok((Self { path, jobs }, records))
    }

    /// Appends an upload; returns once it is on disk, with where its body is.
    pub async fn append(&self, receipt: &Receipt, body: &[u8]) -> std::io::Result<BodyAt> {
        let (record, body_at) = encode(receipt, body);
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::Append {
                record,
                body_at,
                done,
            })
            .map_err(|_| stopped())?;
        let offset = answer.await.map_err(|_| stopped())??;
        Ok(BodyAt {
            offset,
            len: body.len() as u64,
        })
    }

    /// Empties the log, after every append sent before.
    pub async fn clear(&self) -> std::io::Result<()> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(Job::Clear { done }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// A stored body.
    pub fn body(&self, at: BodyAt) -> std::io::Result<Vec<u8>> {
        let file = fs_err::File::open(&self.path)?;
        let mut body = vec![0; usize::try_from(at.len).map_err(std::io::Error::other)?];
        file.file()
            .read_exact_at(&mut body, at.offset)
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("reading {}: {e}", self.path.display()))
            })?;
        Ok(body)
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the upload log's writer has stopped")
}

/// The writer: takes every job waiting, appends the records with one write and one flush,
/// then answers them; a clear is done in its place in the order.
fn write_loop(mut file: std::fs::File, mut len: u64, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut pending: Vec<(u64, oneshot::Sender<std::io::Result<u64>>)> = Vec::new();
        let mut buffer = Vec::new();
        for job in batch {
            match job {
                Job::Append {
                    record,
                    body_at,
                    done,
                } => {
                    pending.push((len + buffer.len() as u64 + body_at, done));
                    buffer.extend_from_slice(&record);
                }
                Job::Clear { done } => {
                    flush(&mut file, &mut len, &mut buffer, &mut pending);
                    let cleared = file.set_len(0).and_then(|()| file.sync_all());
                    if cleared.is_ok() {
                        len = 0;
                    }
                    let _ = done.send(cleared);
                }
            }
        }
        flush(&mut file, &mut len, &mut buffer, &mut pending);
    }
}

/// Writes `buffer` and flushes it, then answers every pending append: with its body's offset,
/// or with the error (the log is then cut back to where it was, so no half batch stays).
fn flush(
    file: &mut std::fs::File,
    len: &mut u64,
    buffer: &mut Vec<u8>,
    pending: &mut Vec<(u64, oneshot::Sender<std::io::Result<u64>>)>,
) {
    if buffer.is_empty() {
        return;
    }
    let written = file.write_all(buffer).and_then(|()| file.sync_data());
    match written {
        Ok(()) => {
            *len += buffer.len() as u64;
            for (offset, done) in pending.drain(..) {
                let _ = done.send(Ok(offset));
            }
        }
        Err(e) => {
            let _ = file.set_len(*len);
            for (_, done) in pending.drain(..) {
                let _ = done.send(Err(std::io::Error::new(
                    e.kind(),
                    format!("appending to the upload log: {e}"),
                )));
            }
        }
    }
    buffer.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: &str, body: &[u8]) -> Receipt {
        Receipt {
            id: id.into(),
            idempotency_key: format!("k-{id}"),
            hierarchy_id: "h".into(),
            week: 1,
            channel: "online".into(),
            body_sha256: sha256_hex(body),
            bytes: body.len() as u64,
            received_at: "1.0".into(),
        }
    }

    #[tokio::test]
    async fn concurrent_appends_read_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (log, held) = UploadLog::open(dir.path()).unwrap();
        assert!(held.is_empty());
        let log = std::sync::Arc::new(log);
        let mut tasks = Vec::new();
        for i in 0..100 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let body = vec![b'a' + (i % 26) as u8; i * 7];
                let at = log
                    .append(&receipt(&i.to_string(), &body), &body)
                    .await
                    .unwrap();
                assert_eq!(log.body(at).unwrap(), body);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        drop(log);
        // A crash in the middle of a write leaves part of a record.
        let path = dir.path().join(LOG_FILE);
        let (record, _) = encode(&receipt("torn", b"xyz"), b"xyz");
        let mut file = fs_err::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&record[..record.len() - 2]).unwrap();
        drop(file);
        let (log, held) = UploadLog::open(dir.path()).unwrap();
        assert_eq!(held.len(), 100);
        assert!(held.iter().all(|(r, _)| r.id != "torn"));
        let whole = read(&path, Digests::Verify).unwrap().1;
        assert_eq!(
            fs_err::metadata(&path).unwrap().len(),
            whole,
            "the tail was cut"
        );
        log.clear().await.unwrap();
        assert_eq!(fs_err::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_body_that_is_not_its_receipts_is_where_a_verified_read_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let (mut altered, _) = encode(&receipt("a", b"original"), b"original");
        let end = altered.len();
        altered[end - 1] = b'X';
        fs_err::write(&path, &altered).unwrap();
        assert!(read(&path, Digests::Verify).unwrap().0.is_empty());
        assert_eq!(read(&path, Digests::Trust).unwrap().0.len(), 1);
    }
}
