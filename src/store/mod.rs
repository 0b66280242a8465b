//! The land (ARCHITECTURE decision 5): one object store rooted at the
//! target's `land`, a local folder by default, `gs://bucket/prefix` or
//! `s3://bucket/prefix` in production. Ingestion writes here and the build
//! path reads here; this module knows nothing about either, only how to put,
//! get, list and delete objects durably under the root.

pub mod external;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("land `{root}`: {message}")]
    Open { root: String, message: String },
    #[error("{action} {url}: {message}")]
    Io {
        action: &'static str,
        url: String,
        message: String,
    },
}

/// An object under the land root, by its path relative to the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LandObject {
    pub path: String,
    pub size: u64,
}

/// The land: where ingestion writes and models read.
#[derive(Debug, Clone)]
pub struct Land {
    store: Arc<dyn ObjectStore>,
    /// The root as the user wrote it, for messages.
    root: String,
    /// Under the root inside a bucket (`gs://bucket/prefix` → `prefix`).
    prefix: String,
    /// Set for a local land: files are fsynced after each write, because
    /// object_store's local backend renames without syncing.
    local_root: Option<PathBuf>,
}

impl Land {
    /// Opens the land at `root`: a folder (created if missing), `file://`,
    /// `gs://bucket/prefix` (service-account key file, key JSON, or
    /// application default credentials: from `options` or the standard
    /// `GOOGLE_*` variables) or `s3://bucket/prefix` (`AWS_*` variables).
    /// Credentials problems surface here, before anything is consumed.
    pub fn open(root: &str, options: &BTreeMap<String, String>) -> Result<Land, StoreError> {
        let open_err = |message: String| StoreError::Open {
            root: root.to_string(),
            message,
        };
        if let Some(rest) = root.strip_prefix("gs://") {
            let (bucket, prefix) = split_bucket(rest);
            let mut builder =
                object_store::gcp::GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            for (key, value) in options {
                let key: object_store::gcp::GoogleConfigKey = key.parse().map_err(|_| {
                    open_err(format!("unknown land option `{key}` for gs:// (try service_account_path, service_account_key or application_credentials)"))
                })?;
                builder = builder.with_config(key, value);
            }
            let store = builder.build().map_err(|e| open_err(one_line(&e)))?;
            return Ok(Land {
                store: Arc::new(store),
                root: root.to_string(),
                prefix,
                local_root: None,
            });
        }
        if let Some(rest) = root.strip_prefix("s3://") {
            let (bucket, prefix) = split_bucket(rest);
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in options {
                let key: object_store::aws::AmazonS3ConfigKey = key
                    .parse()
                    .map_err(|_| open_err(format!("unknown land option `{key}` for s3://")))?;
                builder = builder.with_config(key, value);
            }
            let store = builder.build().map_err(|e| open_err(one_line(&e)))?;
            return Ok(Land {
                store: Arc::new(store),
                root: root.to_string(),
                prefix,
                local_root: None,
            });
        }
        if root.contains("://") && !root.starts_with("file://") {
            return Err(open_err(
                "unsupported scheme; use a folder, file://, gs:// or s3://".into(),
            ));
        }
        let dir = PathBuf::from(root.strip_prefix("file://").unwrap_or(root));
        std::fs::create_dir_all(&dir)
            .map_err(|e| open_err(format!("cannot create the folder: {e}")))?;
        let dir = dir.canonicalize().unwrap_or(dir);
        let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| open_err(one_line(&e)))?;
        Ok(Land {
            store: Arc::new(store),
            root: root.to_string(),
            prefix: String::new(),
            local_root: Some(dir),
        })
    }

    /// The root as configured.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The local folder of a local land.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// A path under the root as a user-readable URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.root.trim_end_matches('/'), path)
    }

    fn location(&self, path: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(path)
        } else {
            StorePath::from(format!("{}/{}", self.prefix, path))
        }
    }

    fn io(&self, action: &'static str, path: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            action,
            url: self.url(path),
            message: e.to_string(),
        }
    }

    /// Writes `bytes` at `path` (replacing what is there) and returns once
    /// the object is durable: for object stores when the upload is
    /// acknowledged, locally after fsync of the file and its folder.
    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.store
            .put(&self.location(path), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.io("writing", path, one_line(&e)))?;
        if let Some(dir) = &self.local_root {
            let file = dir.join(path);
            let sync = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
            sync(&file).map_err(|e| self.io("syncing", path, e))?;
            if let Some(parent) = file.parent() {
                sync(parent).map_err(|e| self.io("syncing", path, e))?;
            }
        }
        Ok(())
    }

    /// The object at `path`, or `None` when there is none.
    pub async fn get(&self, path: &str) -> Result<Option<Bytes>, StoreError> {
        match self.store.get(&self.location(path)).await {
            Ok(found) => found
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.io("reading", path, one_line(&e))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io("reading", path, one_line(&e))),
        }
    }

    /// Deletes `path`; a missing object is not an error. Locally, the
    /// staging files of an upload that never completed (`<name>#<n>`) go
    /// too: a process killed mid-upload leaves them behind.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self.store.delete(&self.location(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.io("deleting", path, one_line(&e))),
        }
        if let Some(dir) = &self.local_root {
            let file = dir.join(path);
            if let (Some(parent), Some(name)) = (file.parent(), file.file_name()) {
                let staged = format!("{}#", name.to_string_lossy());
                for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&staged) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        Ok(())
    }

    /// A streaming upload to `path`: nothing is visible at `path` until
    /// [`LandWriter::finish`] (multipart upload; locally a staged file
    /// renamed into place), so a crash never leaves a partial object.
    pub fn writer(&self, path: &str) -> LandWriter {
        LandWriter {
            inner: object_store::buffered::BufWriter::with_capacity(
                self.store.clone(),
                self.location(path),
                16 << 20,
            ),
            path: path.to_string(),
            land: self.clone(),
        }
    }

    /// Every object under `prefix` (a folder path relative to the root),
    /// sorted by path.
    pub async fn list(&self, prefix: &str) -> Result<Vec<LandObject>, StoreError> {
        let location = self.location(prefix.trim_end_matches('/'));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let found: Vec<_> = match self.store.list(Some(&location)).try_collect().await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.io("listing", prefix, one_line(&e))),
        };
        let mut objects: Vec<LandObject> = found
            .into_iter()
            .map(|meta| LandObject {
                path: meta
                    .location
                    .as_ref()
                    .strip_prefix(&strip)
                    .unwrap_or(meta.location.as_ref())
                    .to_string(),
                size: meta.size,
            })
            .collect();
        objects.sort();
        Ok(objects)
    }

    /// The folder names directly under `prefix` ("" for the root).
    pub async fn folders(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let trimmed = prefix.trim_matches('/');
        let location = if trimmed.is_empty() && self.prefix.is_empty() {
            None
        } else {
            Some(self.location(trimmed))
        };
        match self.store.list_with_delimiter(location.as_ref()).await {
            Ok(listed) => Ok(listed
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.io("listing", prefix, one_line(&e))),
        }
    }

    /// The URL an engine reads `path` (a folder) at: a local absolute path,
    /// or the root URL joined with the path; always ending in `/`.
    pub fn folder_url(&self, path: &str) -> String {
        match &self.local_root {
            Some(dir) => format!("{}/", dir.join(path).display()),
            None => format!(
                "{}/{}/",
                self.root.trim_end_matches('/'),
                path.trim_matches('/')
            ),
        }
    }

    /// For a bucket land: the `scheme://bucket` URL and the store to
    /// register with an engine so it can read the land.
    pub fn bucket_store(&self) -> Option<(String, Arc<dyn ObjectStore>)> {
        if self.local_root.is_some() {
            return None;
        }
        let (scheme, rest) = self.root.split_once("://")?;
        let bucket = rest.split('/').next()?;
        Some((format!("{scheme}://{bucket}"), self.store.clone()))
    }

    /// Checks that the land accepts writes (and that its credentials work)
    /// by writing and deleting a small object under `dir`.
    pub async fn check_writable(&self, dir: &str) -> Result<(), StoreError> {
        let probe = format!("{dir}/.write-check-{}", uuid::Uuid::new_v4().simple());
        self.put(&probe, Bytes::from_static(b"rdbt")).await?;
        self.delete(&probe).await
    }
}

/// A streaming upload; see [`Land::writer`].
pub struct LandWriter {
    inner: object_store::buffered::BufWriter,
    path: String,
    land: Land,
}

impl LandWriter {
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.inner
            .put(bytes)
            .await
            .map_err(|e| self.land.io("writing", &path, one_line(&e)))
    }

    /// Completes the upload and returns once the object is durable.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        self.inner
            .shutdown()
            .await
            .map_err(|e| self.land.io("writing", &self.path, e))?;
        if let Some(dir) = &self.land.local_root {
            let file = dir.join(&self.path);
            let sync = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
            sync(&file).map_err(|e| self.land.io("syncing", &self.path, e))?;
            if let Some(parent) = file.parent() {
                sync(parent).map_err(|e| self.land.io("syncing", &self.path, e))?;
            }
        }
        Ok(())
    }

    /// Gives up the upload; nothing appears at the path.
    pub async fn abort(mut self) {
        let _ = self.inner.abort().await;
        let _ = self.land.delete(&self.path).await;
    }
}

fn split_bucket(rest: &str) -> (String, String) {
    let rest = rest.trim_end_matches('/');
    match rest.split_once('/') {
        Some((bucket, prefix)) => (bucket.to_string(), prefix.to_string()),
        None => (rest.to_string(), String::new()),
    }
}

/// object_store errors nest their causes over several lines; users get one.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_land_puts_lists_gets_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let land = Land::open(dir.path().to_str().unwrap(), &BTreeMap::new()).unwrap();
        land.put(
            "s/t/dt=2024-01-01/part-0-0-9.parquet",
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
        let listed = land.list("s/t").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, "s/t/dt=2024-01-01/part-0-0-9.parquet");
        assert_eq!(
            land.get("s/t/dt=2024-01-01/part-0-0-9.parquet")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"x"[..])
        );
        land.delete("s/t/dt=2024-01-01/part-0-0-9.parquet")
            .await
            .unwrap();
        land.delete("never/was").await.unwrap();
        assert!(land.list("s/t").await.unwrap().is_empty());
        assert!(land.list("nothing/here").await.unwrap().is_empty());
    }

    #[test]
    fn unsupported_scheme_is_refused() {
        let err = Land::open("ftp://x/y", &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("gs://"), "{err}");
    }
}
