//! Durable storage of what the service acknowledged.
//!
//! The contract is "on disk before acknowledged": each upload's body and its receipt are written
//! to temporary files, fsync'd, renamed into place and the directory fsync'd before the handler
//! answers. A crash between those steps leaves either nothing or a complete upload; a receipt is
//! written only after its body, so a receipt on disk always has its body. On start the receipts
//! are read back, which rebuilds the idempotency index.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;
use usage_protocol::receipt::{Receipt, sha256_hex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("receipt {} is unreadable: {source}", path.display())]
    Receipt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
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
    /// One lock per idempotency key in flight, so two concurrent retries of the same upload
    /// cannot both write while unrelated uploads proceed in parallel.
    key_locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Default)]
struct Index {
    receipts: Vec<Receipt>,
    by_key: HashMap<String, usize>,
}

impl Store {
    /// Opens (creating if needed) a store in `dir` and reloads every acknowledged upload.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        let dir = dir.to_path_buf();
        let uploads = dir.join("uploads");
        let receipts = tokio::task::spawn_blocking({
            let uploads = uploads.clone();
            move || load_receipts(&uploads)
        })
        .await??;
        let mut index = Index::default();
        for receipt in receipts {
            index.insert(receipt);
        }
        Ok(Self {
            dir,
            index: Mutex::new(index),
            key_locks: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn put(&self, upload: NewUpload<'_>) -> Result<Stored, StoreError> {
        let key_lock = self.key_lock(upload.idempotency_key);
        let _guard = key_lock.lock().await;
        let body_sha256 = sha256_hex(&upload.json);
        if let Some(existing) = self.index.lock().await.get(upload.idempotency_key) {
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
        let uploads = self.dir.join("uploads");
        let record = receipt.clone();
        let json = upload.json;
        tokio::task::spawn_blocking(move || write_upload(&uploads, &record, &json)).await??;
        self.index.lock().await.insert(receipt.clone());
        drop(_guard);
        self.key_locks
            .lock()
            .expect("key lock map poisoned")
            .remove(&receipt.idempotency_key);
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

    /// The receipt stored under an idempotency key, if any.
    pub async fn by_key(&self, key: &str) -> Option<Receipt> {
        self.index.lock().await.get(key)
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
        if self.receipt(id).await.is_none() {
            return Ok(None);
        }
        let path = self.dir.join("uploads").join(format!("{id}.json"));
        tokio::fs::read(&path)
            .await
            .map(Some)
            .map_err(io("read", &path))
    }

    /// Forgets everything, on disk too.
    pub async fn reset(&self) -> Result<(), StoreError> {
        let mut index = self.index.lock().await;
        let uploads = self.dir.join("uploads");
        if uploads.exists() {
            tokio::fs::remove_dir_all(&uploads)
                .await
                .map_err(io("remove", &uploads))?;
        }
        *index = Index::default();
        Ok(())
    }
}

impl Index {
    fn insert(&mut self, receipt: Receipt) {
        self.by_key
            .insert(receipt.idempotency_key.clone(), self.receipts.len());
        self.receipts.push(receipt);
    }

    fn get(&self, key: &str) -> Option<Receipt> {
        self.by_key.get(key).map(|&i| self.receipts[i].clone())
    }
}

fn load_receipts(uploads: &Path) -> Result<Vec<Receipt>, StoreError> {
    std::fs::create_dir_all(uploads).map_err(io("create", uploads))?;
    let mut receipts = Vec::new();
    for entry in std::fs::read_dir(uploads).map_err(io("list", uploads))? {
        let path = entry.map_err(io("list", uploads))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tmp") {
            // A write that never reached its rename: it was never acknowledged.
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
            continue;
        }
        if !name.ends_with(".receipt.json") {
            continue;
        }
        let text = std::fs::read(&path).map_err(io("read", &path))?;
        let receipt: Receipt =
            serde_json::from_slice(&text).map_err(|source| StoreError::Receipt {
                path: path.clone(),
                source,
            })?;
        receipts.push(receipt);
    }
    receipts.sort_by(|a, b| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
    Ok(receipts)
}

fn write_upload(uploads: &Path, receipt: &Receipt, json: &[u8]) -> Result<(), StoreError> {
    std::fs::create_dir_all(uploads).map_err(io("create", uploads))?;
    write_durably(&uploads.join(format!("{}.json", receipt.id)), json)?;
    let record = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    write_durably(
        &uploads.join(format!("{}.receipt.json", receipt.id)),
        &record,
    )?;
    let dir = std::fs::File::open(uploads).map_err(io("open", uploads))?;
    dir.sync_all().map_err(io("fsync", uploads))
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename", path))
}

fn now_unix() -> String {
    // `seconds.nanoseconds` since the Unix epoch: receipts order by it, and nanoseconds keep that
    // order faithful under load.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}
