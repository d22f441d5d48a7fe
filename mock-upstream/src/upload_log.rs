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
//! record that is incomplete, not a record, or whose body does not have its receipt's SHA-256.
//! When no whole record follows it, that is a torn tail, never acknowledged, and it is cut. When
//! one does, the log was damaged in its middle: the store refuses to open rather than cut away
//! the acknowledged uploads after the damage.

use std::io::{Read, Seek, Write};
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
/// No upload's body is this long (the decompressed bound is far below it): a record header that
/// says otherwise was damaged, not cut short by a crash.
const MAX_BODY: u64 = 1 << 32;
/// The most records one flush takes.
const MAX_BATCH: usize = 1024;

/// Where a stored upload's body is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyAt {
    pub offset: u64,
    pub len: u64,
}

/// A record's header and receipt; its body follows them.
fn head(receipt: &Receipt, body_len: usize) -> Vec<u8> {
    let receipt = serde_json::to_vec(receipt).expect("a receipt serialises");
    let mut head = Vec::with_capacity(HEADER + receipt.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&(receipt.len() as u32).to_le_bytes());
    head.extend_from_slice(&(body_len as u64).to_le_bytes());
    head.extend_from_slice(&receipt);
    head
}

/// One whole record as bytes (for tools and tests that write a log).
pub fn encode(receipt: &Receipt, body: &[u8]) -> Vec<u8> {
    let mut record = head(receipt, body.len());
    record.extend_from_slice(body);
    record
}

/// Whether reading a log checks each body against its receipt's digest: the store does, and
/// stops at a body that fails; `harness check` reads what is there, so that it can report a
/// body altered since it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digests {
    Verify,
    Trust,
}

/// What reading a log found.
pub struct LogContents {
    /// The whole records, in order, with their bodies.
    pub records: Vec<(Receipt, BodyAt, Vec<u8>)>,
    /// Where the whole records end: a torn tail, or damage, starts here.
    pub whole: u64,
    /// Where a whole record starts again after damage at `whole`, if one does: the log was
    /// damaged in its middle, not torn at its end.
    pub resumes_at: Option<u64>,
    /// What follows the last whole record is not the beginning of a record a write made: not
    /// the magic, a length past any upload, or a record of its full length that does not read
    /// (a byte of its receipt or body changed). Damage, even with nothing after it: a crash
    /// leaves a record cut short, never a changed one.
    pub damaged_tail: bool,
}

/// Reads the log at `path` record by record (one body in memory at a time, besides those kept
/// when `keep_bodies`). A missing log holds nothing.
pub fn read(path: &Path, digests: Digests, keep_bodies: bool) -> std::io::Result<LogContents> {
    let file = match fs_err::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogContents {
                records: Vec::new(),
                whole: 0,
                resumes_at: None,
                damaged_tail: false,
            });
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut reader = std::io::BufReader::new(file);
    let mut records = Vec::new();
    let mut at = 0u64;
    while let Some((receipt, body)) = record_at(&mut reader, at, len, digests)? {
        let body_len = body.len() as u64;
        let next = reader.stream_position()?;
        let at_body = BodyAt {
            offset: next - body_len,
            len: body_len,
        };
        records.push((
            receipt,
            at_body,
            if keep_bodies { body } else { Vec::new() },
        ));
        at = next;
    }
    // Damage, or a torn tail? A torn tail has no whole record after it, and its header, if it
    // has one, is one a write made.
    let mut resumes_at = None;
    let rest = len - at;
    let mut damaged_tail = false;
    if rest > 0 {
        let mut header = [0u8; HEADER];
        let seen = rest.min(HEADER as u64) as usize;
        reader.seek(std::io::SeekFrom::Start(at))?;
        reader.read_exact(&mut header[..seen])?;
        let magic = seen.min(MAGIC.len());
        damaged_tail = header[..magic] != MAGIC[..magic];
        if seen == HEADER && !damaged_tail {
            let (receipt_len, body_len) = lengths(&header);
            let whole_length = HEADER as u64 + u64::from(receipt_len) + body_len;
            damaged_tail = receipt_len > MAX_RECEIPT || body_len > MAX_BODY || whole_length <= rest;
        }
    }
    if at < len {
        let rest = {
            let mut rest = Vec::new();
            reader.seek(std::io::SeekFrom::Start(at + 1))?;
            reader.read_to_end(&mut rest)?;
            rest
        };
        let mut from = 0;
        while let Some(found) = rest[from..].windows(MAGIC.len()).position(|w| w == MAGIC) {
            let start = at + 1 + (from + found) as u64;
            reader.seek(std::io::SeekFrom::Start(start))?;
            if record_at(&mut reader, start, len, Digests::Verify)?.is_some() {
                resumes_at = Some(start);
                break;
            }
            from += found + 1;
        }
    }
    Ok(LogContents {
        records,
        whole: at,
        resumes_at,
        damaged_tail,
    })
}

/// The record at `at` (where `reader` stands): its receipt and body; None when what is there
/// is not a whole record (or, verifying, its body is not its receipt's).
fn record_at(
    reader: &mut impl Read,
    at: u64,
    len: u64,
    digests: Digests,
) -> std::io::Result<Option<(Receipt, Vec<u8>)>> {
    let mut header = [0u8; HEADER];
    if len.saturating_sub(at) < HEADER as u64 {
        return Ok(None);
    }
    reader.read_exact(&mut header)?;
    if &header[..4] != MAGIC {
        return Ok(None);
    }
    let (receipt_len, body_len) = lengths(&header);
    let left = len - at - HEADER as u64;
    if receipt_len > MAX_RECEIPT || u64::from(receipt_len).saturating_add(body_len) > left {
        return Ok(None);
    }
    let mut receipt = vec![0; receipt_len as usize];
    reader.read_exact(&mut receipt)?;
    let Ok(receipt) = serde_json::from_slice::<Receipt>(&receipt) else {
        return Ok(None);
    };
    let mut body = vec![0; usize::try_from(body_len).map_err(std::io::Error::other)?];
    reader.read_exact(&mut body)?;
    if digests == Digests::Verify && sha256_hex(&body) != receipt.body_sha256 {
        return Ok(None);
    }
    Ok(Some((receipt, body)))
}

/// A record header's receipt and body lengths.
fn lengths(header: &[u8; HEADER]) -> (u32, u64) {
    (
        u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")),
        u64::from_le_bytes(header[8..16].try_into().expect("8 bytes")),
    )
}

enum Job {
    Append {
        head: Vec<u8>,
        body: Vec<u8>,
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
        usage_protocol::durable::refuse_unless_regular(&path)?;
        let read = read(&path, Digests::Verify, false)?;
        if read.damaged_tail {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is damaged at byte {}: what follows is not a record cut short by a crash (its magic, its lengths or its bytes were changed); refusing to cut it away; move the file aside to start empty",
                    path.display(),
                    read.whole
                ),
            ));
        }
        if let Some(resumes) = read.resumes_at {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is damaged at byte {} (whole records resume at byte {resumes}): refusing to cut away the acknowledged uploads after it; move the file aside to start empty",
                    path.display(),
                    read.whole
                ),
            ));
        }
        let whole = read.whole;
        let records: Vec<(Receipt, BodyAt)> =
            read.records.into_iter().map(|(r, at, _)| (r, at)).collect();
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

    /// Appends an upload; returns once it is on disk, with where its body is. The body is
    /// moved, not copied: it is written from where it is.
    pub async fn append(&self, receipt: &Receipt, body: Vec<u8>) -> std::io::Result<BodyAt> {
        let len = body.len() as u64;
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::Append {
                head: head(receipt, body.len()),
                body,
                done,
            })
            .map_err(|_| stopped())?;
        let offset = answer.await.map_err(|_| stopped())??;
        Ok(BodyAt { offset, len })
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

/// The writer: takes every job waiting, appends the records and flushes once, then answers
/// them; a clear is done in its place in the order.
fn write_loop(file: std::fs::File, len: u64, queue: mpsc::Receiver<Job>) {
    let mut writer = Writer {
        file,
        len,
        appended: 0,
        pending: Vec::new(),
        failed: None,
    };
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        for job in batch {
            match job {
                Job::Append { head, body, done } => writer.append(&head, &body, done),
                Job::Clear { done } => {
                    writer.flush();
                    let _ = done.send(writer.clear());
                }
            }
        }
        writer.flush();
    }
}

/// The log's open file and the batch being written to it.
struct Writer {
    file: std::fs::File,
    /// The log's length up to its last flush.
    len: u64,
    /// Bytes written since.
    appended: u64,
    /// The appends waiting for the flush, with their bodies' offsets.
    pending: Vec<(u64, oneshot::Sender<std::io::Result<u64>>)>,
    /// A write of this batch that failed: the batch is then answered with it.
    failed: Option<std::io::Error>,
}

impl Writer {
    fn append(&mut self, head: &[u8], body: &[u8], done: oneshot::Sender<std::io::Result<u64>>) {
        if self.failed.is_some() {
            let _ = done.send(Err(failure(self.failed.as_ref())));
            return;
        }
        match self
            .file
            .write_all(head)
            .and_then(|()| self.file.write_all(body))
        {
            Ok(()) => {
                let body_offset = self.len + self.appended + head.len() as u64;
                self.appended += (head.len() + body.len()) as u64;
                self.pending.push((body_offset, done));
            }
            Err(e) => {
                let _ = done.send(Err(failure(Some(&e))));
                self.failed = Some(e);
            }
        }
    }

    /// Flushes what was appended, then answers every pending append with its body's offset —
    /// or, when a write or the flush failed, with the error, the log cut back to where the
    /// batch began so that no half batch stays.
    fn flush(&mut self) {
        if self.appended == 0 && self.failed.is_none() {
            return;
        }
        if self.failed.is_none()
            && let Err(e) = self.file.sync_data()
        {
            self.failed = Some(e);
        }
        match self.failed.take() {
            None => {
                self.len += self.appended;
                for (offset, done) in self.pending.drain(..) {
                    let _ = done.send(Ok(offset));
                }
            }
            Some(e) => {
                let _ = self.file.set_len(self.len);
                for (_, done) in self.pending.drain(..) {
                    let _ = done.send(Err(failure(Some(&e))));
                }
            }
        }
        self.appended = 0;
    }

    fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }
}

fn failure(error: Option<&std::io::Error>) -> std::io::Error {
    let kind = error.map_or(std::io::ErrorKind::Other, std::io::Error::kind);
    let message = error.map_or_else(String::new, ToString::to_string);
    std::io::Error::new(kind, format!("appending to the upload log: {message}"))
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
                    .append(&receipt(&i.to_string(), &body), body.clone())
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
        let record = encode(&receipt("torn", b"xyz"), b"xyz");
        let mut file = fs_err::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&record[..record.len() - 2]).unwrap();
        drop(file);
        let (log, held) = UploadLog::open(dir.path()).unwrap();
        assert_eq!(held.len(), 100);
        assert!(held.iter().all(|(r, _)| r.id != "torn"));
        let whole = read(&path, Digests::Verify, false).unwrap().whole;
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
        let mut altered = encode(&receipt("a", b"original"), b"original");
        let end = altered.len();
        altered[end - 1] = b'X';
        fs_err::write(&path, &altered).unwrap();
        assert!(
            read(&path, Digests::Verify, false)
                .unwrap()
                .records
                .is_empty()
        );
        let trusted = read(&path, Digests::Trust, true).unwrap();
        assert_eq!(trusted.records.len(), 1);
        assert_eq!(trusted.records[0].2, b"originaX");
    }

    /// The records of `ids`, each with its id for a body, as a log holds them.
    fn records(ids: &[&str]) -> Vec<u8> {
        ids.iter()
            .flat_map(|id| encode(&receipt(id, id.as_bytes()), id.as_bytes()))
            .collect()
    }

    /// A log of `bytes` refuses to open as damaged, and nothing of it is cut.
    fn refused_as_damaged(bytes: &[u8], what: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        fs_err::write(&path, bytes).unwrap();
        let error = UploadLog::open(dir.path()).err().expect(what);
        assert!(error.to_string().contains("damaged"), "{what}: {error}");
        assert_eq!(
            fs_err::read(&path).unwrap(),
            bytes,
            "{what}: nothing was cut"
        );
    }

    /// Damage in the middle of the log, with acknowledged records after it, is not a torn
    /// tail: the log is not cut, and it does not open.
    #[test]
    fn damage_before_whole_records_refuses_to_open_and_cuts_nothing() {
        let mut log = records(&["a", "b", "c"]);
        let second = records(&["a"]).len();
        log[second] = b'X'; // the second record's magic
        refused_as_damaged(&log, "damage before whole records");
    }

    /// Found by an attack: the last record's body length set past any body (2^62) was taken
    /// for a torn tail and cut, and an acknowledged upload with it.
    #[test]
    fn a_last_record_with_an_impossible_length_is_damage_not_a_torn_tail() {
        let mut log = records(&["a", "b", "c"]);
        let last = records(&["a", "b"]).len();
        log[last + 8..last + 16].copy_from_slice(&(1u64 << 62).to_le_bytes());
        refused_as_damaged(&log, "an impossible length");
    }

    #[test]
    fn a_log_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(LOG_FILE)).unwrap();
        let error = UploadLog::open(dir.path()).err().expect("refused");
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    /// Found by a later attack: the last record with its magic, one byte of its body, or its
    /// receipt length changed was taken for a torn tail and cut. A crash only cuts a record
    /// short; a record of its full length that does not read is damage.
    #[test]
    fn a_last_record_changed_but_whole_is_damage_not_a_torn_tail() {
        let record = encode(&receipt("c", b"body"), b"body");
        let head = records(&["a", "b"]).len();
        for (what, at, value) in [
            ("magic", 0, b'X'),
            ("a body byte", record.len() - 1, b'X'),
            ("a receipt byte", HEADER + 2, b'!'),
        ] {
            let mut log = records(&["a", "b"]);
            log.extend(&record);
            log[head + at] = value;
            refused_as_damaged(&log, what);
        }
        // Cut short anywhere, even inside its header, it is a torn tail and is cut.
        for keep in [1, 3, HEADER - 1, HEADER + 1, record.len() - 1] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(LOG_FILE);
            let mut log = records(&["a"]);
            let whole = log.len() as u64;
            log.extend(&record[..keep]);
            fs_err::write(&path, &log).unwrap();
            let (_, held) = UploadLog::open(dir.path()).unwrap();
            assert_eq!(held.len(), 1, "kept {keep}");
            assert_eq!(fs_err::metadata(&path).unwrap().len(), whole, "kept {keep}");
        }
    }
}
