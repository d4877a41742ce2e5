//! The OCI image layout on disk. Blobs are written to a temp file and
//! renamed to their digest; `index.json` is replaced atomically under an
//! exclusive lock, and only after every blob it names exists. A killed
//! build therefore leaves a valid layout (at worst with unreferenced
//! blobs, which `gc` removes). Our own bookkeeping (layer and cell
//! records, temp files, the lock) lives in `.matrix/` inside the layout.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::digest::Sha256;
use crate::fsutil::write_atomic;

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A store problem, naming the path.
#[derive(Debug, Error)]
pub enum StoreError {
    /// File-system trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A JSON document of the layout does not parse.
    #[error("{} is not valid: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
}

impl StoreError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: io::Error) -> StoreError {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }
}

/// What `gc` removed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Blobs kept.
    pub kept: usize,
}

/// An OCI image layout folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Held while `index.json` is read, changed and written.
pub struct StoreLock {
    _file: fs::File,
}

impl Store {
    /// Opens the layout at `root`, creating an empty one if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in ["blobs/sha256", ".matrix/tmp", ".matrix/layers", ".matrix/cells"] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(|e| StoreError::io(format!("creating {}", path.display()), e))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| StoreError::io("writing oci-layout", e))?;
        }
        if !root.join("index.json").exists() {
            let _lock = store.lock()?;
            if !root.join("index.json").exists() {
                store.write_index(Vec::new())?;
            }
        }
        Ok(store)
    }

    /// The layout folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob (`sha256:<hex>`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    /// True if the blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A temp file for a blob being written.
    pub fn temp_blob(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        tempfile::NamedTempFile::new_in(self.root.join(".matrix/tmp"))
            .map_err(|e| StoreError::io("creating a temp blob", e))
    }

    /// Renames a finished temp file to its digest (keeps an existing blob:
    /// same digest, same bytes).
    pub fn commit_blob(&self, temp: tempfile::NamedTempFile, digest: &Sha256) -> Result<(), StoreError> {
        let target = self.blob_path(&digest.to_string());
        if target.is_file() {
            return Ok(());
        }
        temp.persist(&target)
            .map(|_| ())
            .map_err(|e| StoreError::io(format!("storing blob {digest}"), e.error))
    }

    /// Stores a JSON document as a blob (keys sorted, so equal values give
    /// equal digests) and returns its descriptor.
    pub fn put_json<T: Serialize>(&self, value: &T, media_type: MediaType) -> Result<Descriptor, StoreError> {
        let bytes = canonical_json(value)?;
        let digest = Sha256::of(&bytes);
        let target = self.blob_path(&digest.to_string());
        if !target.is_file() {
            write_atomic(&target, &bytes).map_err(|e| StoreError::io(format!("storing blob {digest}"), e))?;
        }
        Ok(Descriptor::new(
            media_type,
            bytes.len() as u64,
            oci_digest(&digest),
        ))
    }

    /// Reads a JSON blob.
    pub fn read_json<T: DeserializeOwned>(&self, digest: &str) -> Result<T, StoreError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    /// Takes the store's exclusive lock (other builds into the same store
    /// wait here).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.root.join(".matrix/lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("opening the store lock", e))?;
        file.lock().map_err(|e| StoreError::io("locking the store", e))?;
        Ok(StoreLock { _file: file })
    }

    /// The descriptors of `index.json`.
    pub fn index(&self) -> Result<Vec<Descriptor>, StoreError> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(|e| StoreError::io("reading index.json", e))?;
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            path,
            message: e.to_string(),
        })?;
        Ok(index.manifests().clone())
    }

    /// The descriptor a ref name (`kubernetes:v1.24.4-4.1.3-amd64`) points at.
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        Ok(self.index()?.into_iter().find(|d| ref_name(d) == Some(name)))
    }

    /// Points each ref name at its descriptor (replacing older targets),
    /// keeping the rest; every named blob must already exist.
    pub fn set_refs(&self, refs: Vec<(String, Descriptor)>) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let mut by_name: BTreeMap<String, Descriptor> = self
            .index()?
            .into_iter()
            .filter_map(|d| ref_name(&d).map(|name| (name.to_string(), d.clone())))
            .collect();
        for (name, descriptor) in refs {
            let mut descriptor = descriptor;
            let mut annotations = std::collections::HashMap::new();
            annotations.insert(REF_NAME.to_string(), name.clone());
            descriptor.set_annotations(Some(annotations));
            by_name.insert(name, descriptor);
        }
        self.write_index(by_name.into_values().collect())
    }

    fn write_index(&self, manifests: Vec<Descriptor>) -> Result<(), StoreError> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .map_err(|e| StoreError::Invalid {
                path: self.root.join("index.json"),
                message: e.to_string(),
            })?;
        let bytes = canonical_json(&index)?;
        write_atomic(&self.root.join("index.json"), &bytes)
            .map_err(|e| StoreError::io("writing index.json", e))
    }

    /// A bookkeeping record under `.matrix/`, if present and readable.
    pub fn record<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let bytes = fs::read(self.record_path(kind, key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes a bookkeeping record under `.matrix/`.
    pub fn put_record<T: Serialize>(&self, kind: &str, key: &str, value: &T) -> Result<(), StoreError> {
        let path = self.record_path(kind, key);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io("creating a record folder", e))?;
        }
        let bytes = canonical_json(value)?;
        write_atomic(&path, &bytes).map_err(|e| StoreError::io(format!("writing {}", path.display()), e))
    }

    fn record_path(&self, kind: &str, key: &str) -> PathBuf {
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join(".matrix").join(kind).join(format!("{safe}.json"))
    }

    /// Every blob reachable from `index.json`.
    pub fn reachable(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<Descriptor> = self.index()?;
        while let Some(descriptor) = queue.pop() {
            let digest = descriptor.digest().to_string();
            if !seen.insert(digest.clone()) {
                continue;
            }
            match descriptor.media_type() {
                MediaType::ImageIndex => {
                    let index: ImageIndex = self.read_json(&digest)?;
                    queue.extend(index.manifests().iter().cloned());
                }
                MediaType::ImageManifest => {
                    let manifest: ImageManifest = self.read_json(&digest)?;
                    seen.insert(manifest.config().digest().to_string());
                    seen.extend(manifest.layers().iter().map(|layer| layer.digest().to_string()));
                }
                _ => {}
            }
        }
        Ok(seen)
    }

    /// Deletes blobs no tag reaches, stale temp files and records of
    /// deleted blobs.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _lock = self.lock()?;
        let keep = self.reachable()?;
        let mut report = GcReport::default();
        let blobs = self.root.join("blobs/sha256");
        let entries = fs::read_dir(&blobs).map_err(|e| StoreError::io("listing blobs", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("listing blobs", e))?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if keep.contains(&digest) {
                report.kept += 1;
                continue;
            }
            let size = entry.metadata().map_or(0, |m| m.len());
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(format!("deleting {digest}"), e))?;
            report.blobs += 1;
            report.bytes += size;
        }
        for kind in ["tmp", "layers", "cells"] {
            let dir = self.root.join(".matrix").join(kind);
            if kind == "tmp" {
                let _ = fs::remove_dir_all(&dir);
            } else {
                prune_records(&dir, &keep);
            }
            fs::create_dir_all(&dir).map_err(|e| StoreError::io("recreating .matrix", e))?;
        }
        Ok(report)
    }
}

/// Drops records that point at blobs gc removed.
fn prune_records(dir: &Path, keep: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let stale = fs::read_to_string(entry.path())
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|value| {
                value
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .map(|d| !keep.contains(d))
            })
            .unwrap_or(true);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The ref name annotation of a descriptor.
pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(REF_NAME)
        .map(String::as_str)
}

/// JSON with object keys sorted (via `serde_json::Value`, whose maps are
/// ordered), so that `HashMap`s inside oci-spec types serialise the same
/// way every time.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let invalid = |e: serde_json::Error| StoreError::Invalid {
        path: PathBuf::from("<json>"),
        message: e.to_string(),
    };
    let value = serde_json::to_value(value).map_err(invalid)?;
    serde_json::to_vec(&value).map_err(invalid)
}

/// Our digest as oci-spec's.
pub fn oci_digest(digest: &Sha256) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .unwrap_or_else(|_| unreachable!("a Sha256 always prints as sha256:<64 hex>"))
}
