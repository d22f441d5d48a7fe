//! Durable storage of what the service acknowledged.
//!
//! The contract is "on disk before acknowledged": each upload — its receipt and its body — is
//! appended to the [`UploadLog`] and flushed before the handler answers; uploads that arrive
//! together share one flush. On start the log is read back (a torn tail, never acknowledged, is
//! cut), which rebuilds the idempotency index.
//!
//! Stores written before the log kept a body file and a receipt file per upload; those are still
//! read (a body without its receipt, never acknowledged, is removed), and new uploads go to the
//! log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;
use usage_protocol::bounded_file::{self, Links};
use usage_protocol::durable;

use crate::upload_log::{self, BodyAt, UploadLog};
use usage_protocol::receipt::{Receipt, sha256_hex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed; the message names the path (from `fs_err` or `durable`).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("receipt {} is unreadable: {source}", path.display())]
    Receipt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: bounded_file::BoundedReadError,
    },
}

/// The result of offering an upload to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// First time this key was seen: the body is now durable.
    Created(Receipt),
    /// Same key, same body: the original receipt, nothing written.
    Replayed(Receipt),
    /// Same key, different body: refused.
    Conflict(Receipt),
}

/// The upload to store.
pub struct NewUpload<'a> {
    pub idempotency_key: &'a str,
    pub hierarchy_id: &'a str,
    pub week: u32,
    pub channel: &'a str,
    pub json: Vec<u8>,
}

pub struct Store {
    dir: PathBuf,
    index: Mutex<Index>,
    log: UploadLog,
    /// Held to store (shared) and to reset (alone): a reset never falls between an upload's
    /// append and its entry in the index, which would leave an entry pointing into a log that
    /// was emptied under it.
    resetting: tokio::sync::RwLock<()>,
    /// One lock per idempotency key in flight, so two concurrent retries of the same upload
    /// cannot both write while unrelated uploads proceed in parallel.
    key_locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Default)]
struct Index {
    receipts: Vec<Receipt>,
    by_key: HashMap<String, usize>,
    /// Where each upload's body is, by receipt id.
    bodies: HashMap<String, Body>,
}

/// Where a stored body is: in the log, or (a store written before it) in a file of its own.
#[derive(Debug, Clone)]
enum Body {
    Log(BodyAt),
    File(PathBuf),
}

impl Store {
    /// Opens (creating if needed) a store in `dir` and reloads every acknowledged upload.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        let dir = dir.to_path_buf();
        let uploads = dir.join("uploads");
        let (log, mut stored) = tokio::task::spawn_blocking({
            let uploads = uploads.clone();
            move || -> Result<_, StoreError> {
                let mut stored: Vec<(Receipt, Body)> = load_receipts(&uploads)?
                    .into_iter()
                    .map(|r| {
                        let file = uploads.join(format!("{}.json", r.id));
                        (r, Body::File(file))
                    })
                    .collect();
                for (_, body) in &stored {
                    if let Body::File(path) = body {
                        durable::refuse_unless_regular(path)?;
                    }
                }
                let (log, logged) = UploadLog::open(&uploads)?;
                stored.extend(logged.into_iter().map(|(r, at)| (r, Body::Log(at))));
                // An upload is stored once, under one id and one key (a retry is answered from
                // its receipt): one twice — a record copied in the log, or a copy beside it
                // under its own id or another — is a copy made by hand, and would be listed and
                // counted twice.
                let mut ids = std::collections::HashSet::new();
                let mut keys = std::collections::HashSet::new();
                for (r, _) in &stored {
                    let twice = if !ids.insert(r.id.as_str()) {
                        format!("upload {}", r.id)
                    } else if !keys.insert((r.hierarchy_id.as_str(), r.idempotency_key.as_str())) {
                        format!(
                            "the upload of hierarchy {} under key {}",
                            r.hierarchy_id, r.idempotency_key
                        )
                    } else {
                        continue;
                    };
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} holds {twice} twice, which the service never writes: refusing to start",
                            uploads.display()
                        ),
                    )
                    .into());
                }
                Ok((log, stored))
            }
        })
        .await??;
        stored.sort_by(|(a, _), (b, _)| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
        let mut index = Index::default();
        for (receipt, body) in stored {
            index.insert(receipt, body);
        }
        Ok(Self {
            dir,
            log,
            resetting: tokio::sync::RwLock::new(()),
            index: Mutex::new(index),
            key_locks: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn put(&self, upload: NewUpload<'_>) -> Result<Stored, StoreError> {
        let _storing = self.resetting.read().await;
        let scoped = scoped_key(upload.hierarchy_id, upload.idempotency_key);
        let key_lock = self.key_lock(&scoped);
        let _guard = key_lock.lock().await;
        let body_sha256 = sha256_hex(&upload.json);
        if let Some(existing) = self.index.lock().await.get(&scoped) {
            return Ok(if existing.body_sha256 == body_sha256 {
                Stored::Replayed(existing)
            } else {
                Stored::Conflict(existing)
            });
        }
        let receipt = Receipt {
            id: uuid::Uuid::new_v4().to_string(),
            idempotency_key: upload.idempotency_key.to_string(),
            hierarchy_id: upload.hierarchy_id.to_string(),
            week: upload.week,
            channel: upload.channel.to_string(),
            body_sha256,
            bytes: upload.json.len() as u64,
            received_at: now_unix(),
        };
        let at = self.log.append(&receipt, upload.json).await?;
        self.index
            .lock()
            .await
            .insert(receipt.clone(), Body::Log(at));
        drop(_guard);
        self.key_locks
            .lock()
            .expect("key lock map poisoned")
            .remove(&scoped);
        Ok(Stored::Created(receipt))
    }

    fn key_lock(&self, key: &str) -> Arc<Mutex<()>> {
        self.key_locks
            .lock()
            .expect("key lock map poisoned")
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// The receipt a hierarchy's upload got under an idempotency key, if any. Keys are the
    /// client's choice, so they are scoped by hierarchy: another hierarchy using the same key
    /// neither sees nor blocks this one's upload.
    pub async fn by_key(&self, hierarchy_id: &str, key: &str) -> Option<Receipt> {
        self.index.lock().await.get(&scoped_key(hierarchy_id, key))
    }

    pub async fn receipts(&self) -> Vec<Receipt> {
        self.index.lock().await.receipts.clone()
    }

    pub async fn receipt(&self, id: &str) -> Option<Receipt> {
        let index = self.index.lock().await;
        index.receipts.iter().find(|r| r.id == id).cloned()
    }

    /// The decompressed JSON body of a stored upload.
    pub async fn body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let body = self.index.lock().await.bodies.get(id).cloned();
        match body {
            None => Ok(None),
            Some(Body::File(path)) => Ok(Some(fs_err::tokio::read(&path).await?)),
            Some(Body::Log(at)) => Ok(Some(self.log.body(at)?)),
        }
    }

    /// Forgets everything, on disk too.
    pub async fn reset(&self) -> Result<(), StoreError> {
        let _alone = self.resetting.write().await;
        let mut index = self.index.lock().await;
        self.log.clear().await?;
        // The files of a store written before the log.
        for body in index.bodies.values() {
            if let Body::File(path) = body {
                fs_err::tokio::remove_file(path).await?;
                fs_err::tokio::remove_file(path.with_extension("receipt.json")).await?;
            }
        }
        *index = Index::default();
        Ok(())
    }
}

/// An idempotency key within its hierarchy's scope (a newline cannot occur in either part: the
/// hierarchy is base64 and the key a header value).
fn scoped_key(hierarchy_id: &str, key: &str) -> String {
    format!("{hierarchy_id}\n{key}")
}

impl Index {
    fn insert(&mut self, receipt: Receipt, body: Body) {
        self.by_key.insert(
            scoped_key(&receipt.hierarchy_id, &receipt.idempotency_key),
            self.receipts.len(),
        );
        self.bodies.insert(receipt.id.clone(), body);
        self.receipts.push(receipt);
    }

    fn get(&self, scoped_key: &str) -> Option<Receipt> {
        self.by_key
            .get(scoped_key)
            .map(|&i| self.receipts[i].clone())
    }
}

fn load_receipts(uploads: &Path) -> Result<Vec<Receipt>, StoreError> {
    fs_err::create_dir_all(uploads)?;
    let mut receipts = Vec::new();
    let mut bodies = Vec::new();
    for entry in fs_err::read_dir(uploads)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // A write that never reached its rename was never acknowledged. `*.tmp` is how versions
        // before `durable::write_file` named theirs.
        if durable::is_leftover(name) || name.ends_with(".tmp") {
            fs_err::remove_file(&path)?;
            continue;
        }
        if name.ends_with(".receipt.json") {
            receipts.push(read_receipt(&path)?);
        } else if name.ends_with(".json") {
            bodies.push(path);
        }
    }
    // A body is written before its receipt; one without a receipt is an upload the process died
    // storing, never acknowledged: nothing refers to it, and it would stay forever.
    let acknowledged: std::collections::HashSet<String> =
        receipts.iter().map(|r| format!("{}.json", r.id)).collect();
    for body in bodies {
        let name = body.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !acknowledged.contains(name) {
            fs_err::remove_file(&body)?;
        }
    }
    receipts.sort_by(|a, b| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
    Ok(receipts)
}

/// Every upload a store in `dir` holds — its receipt and its decompressed JSON body, oldest
/// first — read without changing anything: no folder is created, no leftover removed, no server
/// started. For a later look at a kept store (`harness check`). A receipt whose body is missing,
/// and a store that does not exist, are errors naming the path.
pub fn read_only(dir: &Path) -> Result<Vec<(Receipt, Vec<u8>)>, StoreError> {
    let uploads = dir.join("uploads");
    let mut receipts = Vec::new();
    for entry in fs_err::read_dir(&uploads)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if durable::is_leftover(name) || !name.ends_with(".receipt.json") {
            continue;
        }
        receipts.push(read_receipt(&path)?);
    }
    let mut stored: Vec<(Receipt, Vec<u8>)> = receipts
        .into_iter()
        .map(|receipt| {
            let body = fs_err::read(uploads.join(format!("{}.json", receipt.id)))?;
            Ok((receipt, body))
        })
        .collect::<Result<_, StoreError>>()?;
    // Bodies as they are, not checked against their receipts: that is the checker's to say.
    let log = uploads.join(upload_log::LOG_FILE);
    let logged = upload_log::read(&log, upload_log::Digests::Trust, true)?;
    stored.extend(
        logged
            .records
            .into_iter()
            .map(|(receipt, _, body)| (receipt, body)),
    );
    stored.sort_by(|(a, _), (b, _)| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
    Ok(stored)
}

/// A receipt file of a store written by an older version: a regular file, as small as a
/// receipt is (a pipe hung the start, and a link to `/dev/zero` read until memory ran out).
fn read_receipt(path: &Path) -> Result<Receipt, StoreError> {
    const MAX_RECEIPT_FILE_BYTES: u64 = 1 << 20;
    let text =
        bounded_file::read(path, MAX_RECEIPT_FILE_BYTES, Links::Refuse).map_err(|source| {
            StoreError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        })?;
    serde_json::from_slice(&text).map_err(|source| StoreError::Receipt {
        path: path.to_path_buf(),
        source,
    })
}

fn now_unix() -> String {
    // `seconds.nanoseconds` since the Unix epoch: receipts order by it, and nanoseconds keep that
    // order faithful under load.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_files_of_never_acknowledged_uploads_stay_on_disk_forever() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        fs_err::create_dir_all(&uploads).unwrap();
        fs_err::write(uploads.join(".tmpAb12Cd"), b"half").unwrap();
        fs_err::write(uploads.join("old.receipt.tmp"), b"half").unwrap();
        // A body whose receipt was never written: the process died storing it.
        fs_err::write(uploads.join("5f0c.json"), b"{}").unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert!(store.receipts().await.is_empty());
        let left: Vec<_> = fs_err::read_dir(&uploads)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [upload_log::LOG_FILE], "only the (empty) log");
    }

    /// A store in `dir` holding one upload of `json`, closed again; its receipt.
    async fn one_upload_stored(dir: &Path, json: &[u8]) -> Receipt {
        let store = Store::open(dir).await.unwrap();
        let stored = store
            .put(NewUpload {
                idempotency_key: "k0",
                hierarchy_id: "h",
                week: 1,
                channel: "online",
                json: json.to_vec(),
            })
            .await
            .unwrap();
        let Stored::Created(receipt) = stored else {
            panic!("stored: {stored:?}")
        };
        receipt
    }

    /// Found by a second attack: a legacy receipt that is a pipe hung the start, and one linked
    /// to `/dev/zero` read until memory ran out; an upload held both as legacy files and in the
    /// log (or twice in the log under two ids) was listed twice.
    #[tokio::test]
    async fn legacy_files_are_read_as_files_and_an_upload_is_held_once() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        fs_err::create_dir_all(&uploads).unwrap();
        std::os::unix::fs::symlink("/dev/zero", uploads.join("x.receipt.json")).unwrap();
        let error = Store::open(dir.path()).await.err().expect("a link");
        assert!(error.to_string().contains("not a regular file"), "{error}");
        fs_err::remove_file(uploads.join("x.receipt.json")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(uploads.join("x.receipt.json"))
            .status()
            .unwrap();
        assert!(made.success());
        let error = Store::open(dir.path()).await.err().expect("a pipe");
        assert!(error.to_string().contains("not a regular file"), "{error}");
        fs_err::remove_file(uploads.join("x.receipt.json")).unwrap();

        let json = b"{\"upload\":1}".to_vec();
        let receipt = one_upload_stored(dir.path(), &json).await;
        let mut copy = receipt.clone();
        copy.id = "legacy-copy".into();
        fs_err::write(
            uploads.join("legacy-copy.receipt.json"),
            serde_json::to_vec(&copy).unwrap(),
        )
        .unwrap();
        fs_err::write(uploads.join("legacy-copy.json"), &json).unwrap();
        let error = Store::open(dir.path()).await.err().expect("held twice");
        assert!(error.to_string().contains("twice"), "{error}");
    }

    /// Found by an attack: a whole record appended twice to the log was loaded twice and
    /// listed twice.
    #[tokio::test]
    async fn a_record_twice_in_the_log_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let receipt = one_upload_stored(dir.path(), b"{\"upload\":1}").await;
        let log = dir.path().join("uploads").join(upload_log::LOG_FILE);
        let once = fs_err::read(&log).unwrap();
        fs_err::write(&log, [once.as_slice(), once.as_slice()].concat()).unwrap();
        let error = Store::open(dir.path()).await.err().expect("refused");
        assert!(
            error
                .to_string()
                .contains(&format!("upload {} twice", receipt.id)),
            "{error}"
        );
    }

    /// Resets among concurrent uploads never leave an entry whose body is not its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reset_among_uploads_leaves_every_entry_its_own_body() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path()).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..3000 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                if i % 25 == 0 {
                    store.reset().await.unwrap();
                    return;
                }
                let key = format!("k{i}");
                store
                    .put(NewUpload {
                        idempotency_key: &key,
                        hierarchy_id: "h",
                        week: 1,
                        channel: "online",
                        json: format!("{{\"upload\":{i}}}").into_bytes(),
                    })
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for receipt in store.receipts().await {
            let body = store.body(&receipt.id).await;
            let body = body.unwrap_or_else(|e| panic!("{receipt:?}: {e}")).unwrap();
            assert_eq!(sha256_hex(&body), receipt.body_sha256, "{receipt:?}");
        }
    }

    #[tokio::test]
    async fn read_only_returns_what_was_stored_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        for (key, week) in [("k1", 1), ("k2", 2)] {
            store
                .put(NewUpload {
                    idempotency_key: key,
                    hierarchy_id: "h",
                    week,
                    channel: "online",
                    json: format!("{{\"week\":{week}}}").into_bytes(),
                })
                .await
                .unwrap();
        }
        drop(store);
        let uploads = dir.path().join("uploads");
        fs_err::write(uploads.join(".tmpLeft1"), b"half").unwrap();
        let before = fs_err::read_dir(&uploads).unwrap().count();
        let read = read_only(dir.path()).unwrap();
        let weeks: Vec<u32> = read.iter().map(|(r, _)| r.week).collect();
        assert_eq!(weeks, [1, 2]);
        assert_eq!(read[1].1, b"{\"week\":2}");
        assert_eq!(fs_err::read_dir(&uploads).unwrap().count(), before);
        let missing = read_only(&dir.path().join("nothing")).unwrap_err();
        assert!(missing.to_string().contains("nothing"), "{missing}");
    }
}
