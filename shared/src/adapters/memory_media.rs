//! `MemoryMediaStore`: files in memory, handed out as signed links to the process's own
//! `GET /media/<key>` (what `atende serve` answers), valid for the time asked.

use crate::ports::{MediaStore, StoreError};
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

pub struct MemoryMediaStore {
    files: Mutex<BTreeMap<String, StoredFile>>,
    /// Where `GET /media/<key>` is served, e.g. `http://127.0.0.1:3000`.
    base_url: Mutex<String>,
    key: [u8; 32],
}

impl MemoryMediaStore {
    /// Links point at `base_url` (set it later with `set_base_url` when the port is known).
    pub fn new(base_url: &str) -> Result<Self, StoreError> {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut key)
            .map_err(|_| StoreError::Unavailable("no randomness for the link key".into()))?;
        Ok(Self {
            files: Mutex::default(),
            base_url: Mutex::new(base_url.trim_end_matches('/').to_owned()),
            key,
        })
    }

    pub fn set_base_url(&self, base_url: &str) {
        *lock(&self.base_url) = base_url.trim_end_matches('/').to_owned();
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        // HMAC takes a key of any length.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{key}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The file a link names, if the link is this store's, unexpired at `now` (epoch seconds).
    pub fn open(&self, key: &str, expires: i64, signature: &str, now: i64) -> Option<StoredFile> {
        use subtle::ConstantTimeEq;
        let expected = self.signature(key, expires);
        let valid: bool = expected.as_bytes().ct_eq(signature.as_bytes()).into();
        if !valid || expires <= now {
            return None;
        }
        lock(&self.files).get(key).cloned()
    }

    /// Every key stored, for tests.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.files).keys().cloned().collect()
    }
}

#[async_trait]
impl MediaStore for MemoryMediaStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        lock(&self.files).insert(
            key.to_owned(),
            StoredFile {
                bytes,
                content_type: content_type.to_owned(),
            },
        );
        Ok(())
    }

    async fn link(&self, key: &str, valid_for: std::time::Duration) -> Result<String, StoreError> {
        let expires = chrono::Utc::now().timestamp()
            + i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX / 2);
        let encoded: String = key
            .split('/')
            .map(|segment| {
                segment
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                            (b as char).to_string()
                        }
                        other => format!("%{other:02X}"),
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("/");
        Ok(format!(
            "{}/media/{encoded}?expires={expires}&signature={}",
            lock(&self.base_url),
            self.signature(key, expires)
        ))
    }

    async fn erase_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let mut files = lock(&self.files);
        let before = files.len();
        files.retain(|k, _| !k.starts_with(prefix));
        Ok(before - files.len())
    }
}
