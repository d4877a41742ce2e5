//! The OCI image layout on disk. Blobs are written to a temp file and
//! renamed to their digest; `index.json` is replaced atomically under an
//! exclusive lock, and only after every blob it names exists. A killed
//! build therefore leaves a valid layout (at worst with unreferenced
//! blobs, which `gc` removes). Our own bookkeeping (layer and cell
//! records, temp files, the locks) lives in `.matrix/` inside the layout.
//!
//! A blob is reused only if it verifies: existence and size always, its
//! digest whenever the file changed since it last verified (a stamp of
//! size, inode, mtime and ctime is kept in `.matrix/verified`). Writers
//! hold a shared lock for as long as the store is open; `gc` takes it
//! exclusively, so it never deletes the blobs of a build in progress.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::manifest::MAX_MANIFEST;
use crate::digest::Sha256;
use crate::fsutil::{describe_io, file_stamp, temp_file_in, write_atomic, write_verified_later};
use crate::tag::Tag;

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A ref name in the layout, `<image>:<tag>`: one layout holds every
/// image, and a bare tag would be ambiguous between them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName {
    image: String,
    tag: Tag,
}

impl RefName {
    /// The ref of `image` at `tag`.
    pub fn new(image: &str, tag: &Tag) -> RefName {
        RefName {
            image: image.to_string(),
            tag: tag.clone(),
        }
    }

    /// The image name.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The tag.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }
}

impl std::fmt::Display for RefName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.image, self.tag)
    }
}

impl Serialize for RefName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A store problem, naming the path.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The folder is not an OCI image layout.
    #[error("{} is not an OCI image layout ({reason})\n  help: point --out/--from at a folder `matrix build` wrote", path.display())]
    NotALayout {
        /// The folder.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// An OCI layout matrix did not create (another tool wrote it): matrix
    /// never writes or deletes there.
    #[error(
        "{} is an OCI image layout matrix did not create (no {MARKER}); matrix writes and deletes only in layouts it created\n  help: give --out an empty or new folder; a foreign layout can still be read with --from (verify, sbom, push)",
        path.display()
    )]
    Foreign {
        /// The folder.
        path: PathBuf,
    },
    /// A blob the store needs is missing or damaged.
    #[error("blob {digest} ({}): {problem}\n  help: run `matrix fsck --repair` and build again", path.display())]
    BadBlob {
        /// The digest.
        digest: String,
        /// Its file.
        path: PathBuf,
        /// What is wrong.
        problem: BlobProblem,
    },
    /// File-system trouble at a known path.
    #[error("{message}")]
    Fs {
        /// What happened, with the path ("no space left writing PATH").
        message: String,
        /// Why.
        #[source]
        source: io::Error,
    },
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

    /// An I/O error writing `path`, phrased for a person (full disk,
    /// read-only file system, permissions).
    pub fn writing(path: &Path, source: io::Error) -> StoreError {
        StoreError::Fs {
            message: describe_io(path, &source),
            source,
        }
    }
}

/// What is wrong with a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Error)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BlobProblem {
    /// The file is not there.
    #[error("missing")]
    Missing,
    /// The file has another size than its descriptor says.
    #[error("size {actual}, expected {expected}")]
    Size {
        /// From the descriptor.
        expected: u64,
        /// On disk.
        actual: u64,
    },
    /// The bytes do not hash to the digest.
    #[error("content does not match its digest (hashes to {actual})")]
    Digest {
        /// What the bytes hash to.
        actual: String,
    },
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
    /// Temp files of killed builds removed.
    pub temp_files: usize,
    /// Their bytes.
    pub temp_bytes: u64,
}

/// An OCI image layout folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Digests verified in this run (skips even the stamp check).
    verified: Arc<Mutex<BTreeSet<String>>>,
    /// The shared "in use" lock writers hold while the store is open.
    _in_use: Option<Arc<fs::File>>,
}

/// Held while `index.json` is read, changed and written.
pub struct StoreLock {
    _file: fs::File,
}

impl Store {
    /// Opens the layout at `root` for writing, creating an empty one if
    /// needed, and holds the shared "in use" lock until dropped.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        refuse_foreign(root)?;
        refuse_links(root)?;
        let adopting = root.join("oci-layout").exists();
        if adopting {
            refuse_unowned(root)?;
        }
        for dir in [
            "blobs/sha256",
            ".matrix/tmp",
            ".matrix/layers",
            ".matrix/cells",
            ".matrix/verified",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| StoreError::writing(&path, e))?;
        }
        // The marker first: a layout matrix starts is its own from the
        // moment `oci-layout` appears.
        mark_owned(root)?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| StoreError::writing(&layout, e))?;
        }
        let mut store = Store::existing(root)?;
        let in_use = store.lock_file("in-use")?;
        in_use
            .lock_shared()
            .map_err(|e| StoreError::io("locking the store for use", e))?;
        store._in_use = Some(Arc::new(in_use));
        if !root.join("index.json").exists() {
            let _lock = store.lock()?;
            if !root.join("index.json").exists() {
                store.write_index(Vec::new())?;
            }
        }
        Ok(store)
    }

    /// Opens a layout that must already exist (gc, fsck, push): a folder
    /// without `oci-layout` is refused, never turned into a layout.
    pub fn open_existing(root: &Path) -> Result<Store, StoreError> {
        let not_layout = |reason: &str| StoreError::NotALayout {
            path: root.to_path_buf(),
            reason: reason.to_string(),
        };
        let text = fs::read(root.join("oci-layout")).map_err(|_| not_layout("no oci-layout file"))?;
        /// The `oci-layout` file.
        #[derive(Deserialize)]
        struct LayoutFile {
            #[serde(rename = "imageLayoutVersion")]
            version: Option<String>,
        }
        let layout: LayoutFile =
            serde_json::from_slice(&text).map_err(|_| not_layout("oci-layout is not JSON"))?;
        if layout.version.is_none() {
            return Err(not_layout("oci-layout has no imageLayoutVersion"));
        }
        if !root.join("index.json").is_file() {
            return Err(not_layout("no index.json"));
        }
        refuse_links(root)?;
        Store::existing(root)
    }

    /// Opens an existing layout to change or delete in (gc, fsck
    /// --repair): it must be one matrix created; readers use
    /// [`Store::open_existing`], which reads any layout.
    pub fn open_owned(root: &Path) -> Result<Store, StoreError> {
        let store = Store::open_existing(root)?;
        refuse_unowned(root)?;
        mark_owned(root)?;
        Ok(store)
    }

    fn existing(root: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            root: root.to_path_buf(),
            verified: Arc::new(Mutex::new(BTreeSet::new())),
            _in_use: None,
        })
    }

    fn lock_file(&self, name: &str) -> Result<fs::File, StoreError> {
        let dir = self.root.join(".matrix");
        fs::create_dir_all(&dir).map_err(|e| StoreError::writing(&dir, e))?;
        let path = dir.join(name);
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::writing(&path, e))
    }

    /// The layout folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob (`sha256:<hex>`).
    ///
    /// Digests come from documents anybody can edit (`index.json`,
    /// manifests): one that is not `sha256:<64 hex>` maps to a name that
    /// never exists inside the layout, so `sha256:../../x` can never reach a
    /// file outside it.
    pub fn blob_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// The file of a digest as a document wrote it (it may not be sha256:
    /// then no file of the store has that name).
    pub(crate) fn path_of(&self, digest: &str) -> PathBuf {
        match digest.parse::<Sha256>() {
            Ok(valid) => self.blob_path(&valid),
            Err(_) => self.root.join("blobs/sha256/invalid-digest"),
        }
    }

    /// Checks a blob the store is about to reuse: present, of `size`
    /// bytes, and (unless it verified earlier in this run or is unchanged
    /// since it last verified) hashing to `digest`.
    pub fn check_blob(&self, digest: &Sha256, size: u64) -> Result<(), StoreError> {
        self.check_named(&digest.to_string(), size)
    }

    /// [`Store::check_blob`] for a digest as a document wrote it.
    fn check_named(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        let path = self.path_of(digest);
        let bad = |problem| StoreError::BadBlob {
            digest: digest.to_string(),
            path: path.clone(),
            problem,
        };
        let meta = fs::metadata(&path).map_err(|_| bad(BlobProblem::Missing))?;
        if !meta.is_file() {
            return Err(bad(BlobProblem::Missing));
        }
        if meta.len() != size {
            return Err(bad(BlobProblem::Size {
                expected: size,
                actual: meta.len(),
            }));
        }
        if self.known_good(digest) {
            return Ok(());
        }
        let stamp_path = self.stamp_path(digest);
        let stamp = file_stamp(&meta);
        let small = meta.len() < STAMP_MIN;
        if small || fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
            let actual = fs::File::open(&path)
                .and_then(Sha256::of_reader)
                .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?
                .0
                .to_string();
            if actual != digest {
                return Err(bad(BlobProblem::Digest { actual }));
            }
            // A lost stamp only costs a re-hash next run.
            if !small {
                let _ = write_verified_later(&stamp_path, stamp.as_bytes());
            }
        }
        self.mark_good(digest);
        Ok(())
    }

    /// Checks every blob an image or index needs, as [`Store::check_blob`]
    /// does: the first problem found is the error.
    pub fn check_closure(&self, descriptor: &Descriptor) -> Result<(), StoreError> {
        let mut queue = vec![Child::of(descriptor)];
        let mut seen = BTreeSet::new();
        while let Some(child) = queue.pop() {
            if !seen.insert(child.digest.clone()) {
                continue;
            }
            self.check_named(&child.digest, child.size)?;
            if child.may_have_children()
                && let Some(found) = self.small_children(&child.digest)
            {
                queue.extend(found);
            }
        }
        Ok(())
    }

    fn known_good(&self, digest: &str) -> bool {
        self.verified.lock().is_ok_and(|set| set.contains(digest))
    }

    fn mark_good(&self, digest: &str) {
        if let Ok(mut set) = self.verified.lock() {
            set.insert(digest.to_string());
        }
    }

    fn stamp_path(&self, digest: &str) -> PathBuf {
        let name = digest
            .parse::<Sha256>()
            .map_or_else(|_| "invalid-digest".to_string(), |d| d.hex());
        self.root.join(".matrix/verified").join(name)
    }

    /// Records a blob this run has just written (its digest was computed
    /// on the way in).
    fn record_written(&self, digest: &str) {
        if let Ok(meta) = fs::metadata(self.path_of(digest))
            && meta.len() >= STAMP_MIN
        {
            let _ = write_verified_later(&self.stamp_path(digest), file_stamp(&meta).as_bytes());
        }
        self.mark_good(digest);
    }

    /// A temp file for a blob being written.
    pub fn temp_blob(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let dir = self.root.join(".matrix/tmp");
        temp_file_in(&dir).map_err(|e| StoreError::writing(&dir, e))
    }

    /// Renames a finished temp file to its digest. An existing blob is kept
    /// if it verifies (same digest, same bytes) and replaced if it does not.
    pub fn commit_blob(&self, temp: tempfile::NamedTempFile, digest: &Sha256) -> Result<(), StoreError> {
        let digest_text = digest.to_string();
        let target = self.blob_path(digest);
        let size = temp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        if target.is_file() && self.check_blob(digest, size).is_ok() {
            return Ok(());
        }
        temp.persist(&target)
            .map_err(|e| StoreError::writing(&target, e.error))?;
        self.record_written(&digest_text);
        Ok(())
    }

    /// Copies a blob from elsewhere (a base image's layer in the cache) into
    /// the store, hashing it on the way; a copy that does not match
    /// `digest` and `size` is refused. A blob already here that verifies is
    /// kept.
    pub fn import_blob(&self, from: &Path, digest: &Sha256, size: u64) -> Result<(), StoreError> {
        let text = digest.to_string();
        if self.check_blob(digest, size).is_ok() {
            return Ok(());
        }
        let mut temp = self.temp_blob()?;
        let mut source =
            fs::File::open(from).map_err(|e| StoreError::io(format!("reading {}", from.display()), e))?;
        let mut writer = crate::digest::HashingWriter::new(temp.as_file_mut());
        io::copy(&mut source, &mut writer).map_err(|e| StoreError::writing(&self.root.join("blobs"), e))?;
        let (_, (actual, copied)) = writer.finish();
        if actual != *digest || copied != size {
            return Err(StoreError::BadBlob {
                digest: text,
                path: from.to_path_buf(),
                problem: BlobProblem::Digest {
                    actual: actual.to_string(),
                },
            });
        }
        self.commit_blob(temp, digest)
    }

    /// Stores a JSON document as a blob (keys sorted, so equal values give
    /// equal digests) and returns its descriptor.
    pub fn put_json<T: Serialize>(&self, value: &T, media_type: MediaType) -> Result<Descriptor, StoreError> {
        let bytes = canonical_json(value)?;
        let digest = Sha256::of(&bytes);
        let digest_text = digest.to_string();
        let target = self.blob_path(&digest);
        if self.check_blob(&digest, bytes.len() as u64).is_err() {
            write_verified_later(&target, &bytes).map_err(|e| StoreError::writing(&target, e))?;
            self.record_written(&digest_text);
        }
        Ok(Descriptor::new(
            media_type,
            bytes.len() as u64,
            oci_digest(&digest),
        ))
    }

    /// Reads a JSON blob.
    pub fn read_json<T: DeserializeOwned>(&self, digest: &Sha256) -> Result<T, StoreError> {
        let path = self.blob_path(digest);
        let file =
            fs::File::open(&path).map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        let bytes = super::manifest::read_small(&path.display().to_string(), file).map_err(|e| {
            StoreError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    /// Takes the store's exclusive index lock (other builds into the same
    /// store wait here).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let file = self.lock_file("lock")?;
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
    pub fn resolve(&self, name: &RefName) -> Result<Option<Descriptor>, StoreError> {
        let name = name.to_string();
        Ok(self
            .index()?
            .into_iter()
            .find(|d| ref_name(d) == Some(name.as_str())))
    }

    /// Points each ref name at its descriptor (replacing older targets),
    /// keeping the rest; every named blob must already exist.
    pub fn set_refs(&self, refs: Vec<(RefName, Descriptor)>) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let index = self.index()?;
        // Unnamed entries (referrers: SBOMs, provenance) stay as they are.
        let unnamed: Vec<Descriptor> = index.iter().filter(|d| ref_name(d).is_none()).cloned().collect();
        let mut by_name: BTreeMap<String, Descriptor> = index
            .into_iter()
            .filter_map(|d| ref_name(&d).map(|name| (name.to_string(), d.clone())))
            .collect();
        for (name, descriptor) in refs {
            let name = name.to_string();
            let mut descriptor = descriptor;
            let mut annotations = std::collections::HashMap::new();
            annotations.insert(REF_NAME.to_string(), name.clone());
            descriptor.set_annotations(Some(annotations));
            by_name.insert(name, descriptor);
        }
        self.write_index(by_name.into_values().chain(unnamed).collect())
    }

    /// Lists referrers (manifests with a `subject`) in `index.json` without
    /// ref names, so tools see them as artifacts, not images; every blob
    /// must already exist. Listing one twice keeps one entry (and an
    /// index that would not change is not written, see `write_index`).
    pub fn add_referrers(&self, referrers: &[Descriptor]) -> Result<(), StoreError> {
        if referrers.is_empty() {
            return Ok(());
        }
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut listed: HashSet<String> = index
            .iter()
            .filter(|d| ref_name(d).is_none())
            .map(|d| d.digest().to_string())
            .collect();
        for referrer in referrers {
            if listed.insert(referrer.digest().to_string()) {
                index.push(referrer.clone());
            }
        }
        self.write_index(index)
    }

    /// The referrers listed in `index.json` whose subject is `subject`.
    pub fn referrers(&self, subject: &Sha256) -> Result<Vec<Descriptor>, StoreError> {
        let subject = subject.to_string();
        Ok(self
            .index()?
            .into_iter()
            .filter(|d| ref_name(d).is_none())
            .filter(|d| self.subject_of(d.digest().as_ref()).as_deref() == Some(subject.as_str()))
            .collect())
    }

    /// The `subject` digest a stored manifest names, if any.
    fn subject_of(&self, digest: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Subject {
            subject: Option<Named>,
        }
        let bytes = fs::read(self.path_of(digest)).ok()?;
        serde_json::from_slice::<Subject>(&bytes)
            .ok()?
            .subject
            .map(|s| s.digest)
    }

    /// Drops referrers whose subject no tag reaches any more (their image
    /// was replaced), so gc can delete both. The caller holds the lock.
    pub(crate) fn drop_orphan_referrers(&self) -> Result<(), StoreError> {
        let index = self.index()?;
        let mut seen = BTreeSet::new();
        let mut queue: Vec<Child> = index
            .iter()
            .filter(|d| ref_name(d).is_some())
            .map(Child::of)
            .collect();
        while let Some(child) = queue.pop() {
            if seen.insert(child.digest.clone())
                && child.may_have_children()
                && let Some(found) = self.small_children(&child.digest)
            {
                queue.extend(found);
            }
        }
        let before = index.len();
        let kept: Vec<Descriptor> = index
            .into_iter()
            .filter(|d| {
                ref_name(d).is_some()
                    || self
                        .subject_of(d.digest().as_ref())
                        .is_none_or(|subject| seen.contains(&subject))
            })
            .collect();
        if kept.len() == before {
            return Ok(());
        }
        self.write_index(kept)
    }

    /// Removes ref names from `index.json`; the caller holds [`Store::lock`].
    pub(crate) fn drop_refs(&self, names: &BTreeSet<String>) -> Result<(), StoreError> {
        let kept: Vec<Descriptor> = self
            .index()?
            .into_iter()
            .filter(|d| !ref_name(d).is_some_and(|name| names.contains(name)))
            .collect();
        self.write_index(kept)
    }

    /// Removes the `.matrix/<kind>` records that name one of `digests`.
    pub(crate) fn drop_records(&self, kind: &str, digests: &BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(self.root.join(".matrix").join(kind)) else {
            return;
        };
        for entry in entries.flatten() {
            let named = record_digest(&entry.path()).is_some_and(|digest| digests.contains(&digest));
            if named {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes `index.json`: named entries in the order given, then the
    /// unnamed ones (referrers) by digest, so the bytes do not depend on
    /// which image of a parallel build finished first.
    fn write_index(&self, manifests: Vec<Descriptor>) -> Result<(), StoreError> {
        let (mut manifests, mut unnamed): (Vec<Descriptor>, Vec<Descriptor>) =
            manifests.into_iter().partition(|d| ref_name(d).is_some());
        unnamed.sort_by_key(|d| d.digest().to_string());
        manifests.extend(unnamed);
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
        let path = self.root.join("index.json");
        // An unchanged index is not written (and synced) again: an
        // unchanged rebuild then writes nothing at all.
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        write_atomic(&path, &bytes).map_err(|e| StoreError::writing(&path, e))
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
            fs::create_dir_all(dir).map_err(|e| StoreError::writing(dir, e))?;
        }
        let bytes = canonical_json(value)?;
        write_verified_later(&path, &bytes).map_err(|e| StoreError::writing(&path, e))
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

    /// Every blob reachable from `index.json`, whatever the manifest and
    /// index media types (OCI, Docker schema 2, manifest lists, artifacts).
    pub fn reachable(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<Child> = self.index()?.iter().map(Child::of).collect();
        while let Some(child) = queue.pop() {
            if !seen.insert(child.digest.clone()) {
                continue;
            }
            if child.may_have_children()
                && let Some(found) = self.small_children(&child.digest)
            {
                queue.extend(found);
            }
        }
        Ok(seen)
    }

    /// The descriptors a blob names, if it is small enough to be a
    /// manifest and parses as one.
    pub(crate) fn small_children(&self, digest: &str) -> Option<Vec<Child>> {
        let path = self.path_of(digest);
        let meta = fs::metadata(&path).ok()?;
        if meta.len() > MAX_MANIFEST {
            return None;
        }
        children(&fs::read(&path).ok()?).ok()
    }

    /// Deletes blobs no tag reaches, temp files of killed builds and
    /// records of deleted blobs. Waits for builds using the store.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let in_use = self.lock_file("in-use")?;
        in_use
            .lock()
            .map_err(|e| StoreError::io("waiting for builds using the store", e))?;
        let _lock = self.lock()?;
        self.drop_orphan_referrers()?;
        let keep = self.reachable()?;
        let mut report = GcReport::default();
        let blobs = self.root.join("blobs/sha256");
        let entries = fs::read_dir(&blobs).map_err(|e| StoreError::io("listing blobs", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("listing blobs", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let digest = format!("sha256:{name}");
            // Only regular files named by a digest are blobs matrix wrote:
            // links, folders and other names are left alone.
            if !is_regular(&entry) || digest.parse::<Sha256>().is_err() {
                continue;
            }
            if keep.contains(&digest) {
                report.kept += 1;
                continue;
            }
            let size = entry.metadata().map_or(0, |m| m.len());
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(format!("deleting {digest}"), e))?;
            let _ = fs::remove_file(self.stamp_path(&digest));
            report.blobs += 1;
            report.bytes += size;
        }
        let tmp = self.root.join(".matrix/tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten().filter(is_regular) {
                let size = entry.metadata().map_or(0, |m| m.len());
                if fs::remove_file(entry.path()).is_ok() {
                    report.temp_files += 1;
                    report.temp_bytes += size;
                }
            }
        }
        for kind in ["layers", "cells"] {
            prune_records(&self.root.join(".matrix").join(kind), &keep);
        }
        Ok(report)
    }
}

/// Blobs below this size are hashed again on each check instead of
/// stamped: reading a few kilobytes is cheaper than a stamp file.
const STAMP_MIN: u64 = 1 << 20;

/// A descriptor found in `index.json` or inside a manifest.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size from the descriptor.
    pub size: u64,
    /// Media type from the descriptor, if given.
    pub media_type: Option<String>,
}

impl Child {
    fn of(descriptor: &Descriptor) -> Child {
        Child {
            digest: descriptor.digest().to_string(),
            size: descriptor.size(),
            media_type: Some(descriptor.media_type().to_string()),
        }
    }

    /// Manifests and indexes of every kind; unknown types are looked into
    /// too (a layer is never valid JSON with descriptors, so it adds nothing).
    pub fn may_have_children(&self) -> bool {
        !self.media_type.as_deref().is_some_and(is_layer_type)
    }
}

/// Media types that are certainly leaves.
fn is_layer_type(media_type: &str) -> bool {
    media_type.contains(".layer.") || media_type.contains("rootfs") || media_type.ends_with("config.v1+json")
}

/// A descriptor as a document wrote it, read leniently (gc and fsck
/// must see even what does not verify).
#[derive(Deserialize)]
struct Named {
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

/// The descriptor fields of every manifest and index kind.
#[derive(Deserialize)]
struct Links {
    config: Option<Named>,
    subject: Option<Named>,
    #[serde(default)]
    layers: Vec<Named>,
    #[serde(default)]
    manifests: Vec<Named>,
    #[serde(default)]
    blobs: Vec<Named>,
}

/// The descriptors a manifest or index refers to: `config`, `layers`,
/// `manifests`, `blobs` and `subject`, in OCI and Docker schema 2 alike.
pub(crate) fn children(document: &[u8]) -> Result<Vec<Child>, serde_json::Error> {
    let links: Links = serde_json::from_slice(document)?;
    Ok(links
        .config
        .into_iter()
        .chain(links.subject)
        .chain(links.layers)
        .chain(links.manifests)
        .chain(links.blobs)
        .map(|named| Child {
            digest: named.digest,
            size: named.size,
            media_type: named.media_type,
        })
        .collect())
}

/// The blob a `.matrix/<kind>` record names (cells and layers both keep
/// it as `digest`).
fn record_digest(path: &Path) -> Option<String> {
    /// The one field every record has.
    #[derive(Deserialize)]
    struct Record {
        digest: String,
    }
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice::<Record>(&bytes)
        .ok()
        .map(|record| record.digest)
}

/// Drops records that point at blobs gc removed.
/// The folders of a layout matrix works in; none may be a link, or a
/// write or a delete inside it would land elsewhere.
const LAYOUT_DIRS: [&str; 7] = [
    "blobs",
    "blobs/sha256",
    ".matrix",
    ".matrix/tmp",
    ".matrix/layers",
    ".matrix/cells",
    ".matrix/verified",
];

/// Refuses a layout whose own folders are links (followed, gc would
/// delete files outside the layout).
fn refuse_links(root: &Path) -> Result<(), StoreError> {
    for dir in LAYOUT_DIRS {
        let path = root.join(dir);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            return Err(StoreError::NotALayout {
                path: root.to_path_buf(),
                reason: format!("`{dir}` is a link or a file, not a folder"),
            });
        }
    }
    Ok(())
}

/// The file that says matrix created a layout, with the version of its
/// bookkeeping (`.matrix/`). Written when matrix creates a layout.
pub const MARKER: &str = ".matrix/store";
const MARKER_TEXT: &[u8] = b"matrix store 1\n";

/// Whether matrix created the layout at `root`: it has the marker, or it
/// is a store of a matrix from before the marker (which always kept its
/// layer and cell records in `.matrix/layers` and `.matrix/cells`).
fn owned(root: &Path) -> bool {
    let is = |path: &str, dir: bool| {
        fs::symlink_metadata(root.join(path)).is_ok_and(|m| if dir { m.is_dir() } else { m.is_file() })
    };
    is(MARKER, false) || (is(".matrix/layers", true) && is(".matrix/cells", true))
}

/// Refuses a layout another tool wrote (skopeo's `oci:DIR`, umoci): gc
/// and repairs would delete, and builds rewrite `index.json`, in a folder
/// matrix does not own.
fn refuse_unowned(root: &Path) -> Result<(), StoreError> {
    if owned(root) {
        Ok(())
    } else {
        Err(StoreError::Foreign {
            path: root.to_path_buf(),
        })
    }
}

/// Writes the marker (a store of an earlier matrix gets it on first use).
fn mark_owned(root: &Path) -> Result<(), StoreError> {
    let marker = root.join(MARKER);
    if fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let dir = root.join(".matrix");
    fs::create_dir_all(&dir).map_err(|e| StoreError::writing(&dir, e))?;
    write_atomic(&marker, MARKER_TEXT).map_err(|e| StoreError::writing(&marker, e))
}

/// Refuses to adopt a non-empty folder that is not an OCI layout: gc
/// would later delete files matrix never wrote there.
fn refuse_foreign(root: &Path) -> Result<(), StoreError> {
    let Ok(mut entries) = fs::read_dir(root) else {
        return Ok(());
    };
    if entries.next().is_some() && !root.join("oci-layout").is_file() {
        return Err(StoreError::NotALayout {
            path: root.to_path_buf(),
            reason:
                "a non-empty folder without oci-layout; matrix writes only into an empty folder or a layout"
                    .into(),
        });
    }
    Ok(())
}

/// A regular file, not followed through a link.
fn is_regular(entry: &fs::DirEntry) -> bool {
    entry.file_type().is_ok_and(|t| t.is_file())
}

fn prune_records(dir: &Path, keep: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten().filter(is_regular) {
        let stale = record_digest(&entry.path()).is_none_or(|digest| !keep.contains(&digest));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Content, Entry, Origin};
    use crate::oci::{Compression, LayerFile, LayerSpec, write_layer};

    fn layer(store: &Store, text: &str) -> crate::oci::LayerDesc {
        let entry = Entry {
            content: Content::Bytes(text.as_bytes().to_vec()),
            mode: 0o644,
            origin: Origin::Generated("test"),
        };
        let spec = LayerSpec {
            name: "test".into(),
            files: vec![LayerFile {
                path: "file.txt",
                entry: &entry,
            }],
            compression: Compression::Gzip(6),
            mtime: 0,
        };
        write_layer(store, &spec).unwrap()
    }

    fn flip(path: &Path) {
        let mut bytes = fs::read(path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn reused_blobs_must_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let desc = layer(&store, "hello");
        let digest = desc.digest.clone();
        store.check_blob(&digest, desc.size).unwrap();
        let wrong_size = store.check_blob(&digest, desc.size + 1).unwrap_err();
        assert!(matches!(
            wrong_size,
            StoreError::BadBlob {
                problem: BlobProblem::Size { .. },
                ..
            }
        ));
        // A second store over the same folder (a later run) re-checks.
        let later = Store::open(dir.path()).unwrap();
        flip(&later.blob_path(&digest));
        let flipped = later.check_blob(&digest, desc.size).unwrap_err();
        assert!(
            matches!(
                flipped,
                StoreError::BadBlob {
                    problem: BlobProblem::Digest { .. },
                    ..
                }
            ),
            "{flipped}"
        );
        // Writing the layer again replaces the damaged blob.
        layer(&later, "hello");
        Store::open(dir.path())
            .unwrap()
            .check_blob(&digest, desc.size)
            .unwrap();
        fs::remove_file(later.blob_path(&digest)).unwrap();
        let missing = Store::open(dir.path())
            .unwrap()
            .check_blob(&digest, desc.size)
            .unwrap_err();
        assert!(matches!(
            missing,
            StoreError::BadBlob {
                problem: BlobProblem::Missing,
                ..
            }
        ));
    }

    /// A one-layer OCI manifest of `text`, stored.
    fn image(store: &Store, text: &str) -> Descriptor {
        let data = layer(store, text);
        let config = store
            .put_json(&serde_json::json!({"text": text}), MediaType::ImageConfig)
            .unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": data.digest.to_string(), "size": data.size}]
        });
        store.put_json(&manifest, MediaType::ImageManifest).unwrap()
    }

    #[test]
    fn referrers_stay_with_their_image_and_go_with_it() {
        let dir = tempfile::tempdir().unwrap();
        // gc waits for stores opened for building: this one is not.
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open_existing(dir.path()).unwrap();
        let tag: Tag = "v1".parse().unwrap();
        let old = image(&store, "old");
        let sbom = crate::oci::build_referrer(
            &store,
            &old,
            "application/spdx+json",
            &serde_json::json!({"a": 1}),
        )
        .unwrap();
        store
            .set_refs(vec![(RefName::new("x", &tag), old.clone())])
            .unwrap();
        store.add_referrers(std::slice::from_ref(&sbom)).unwrap();
        store.add_referrers(std::slice::from_ref(&sbom)).unwrap();
        // Moving another tag keeps the referrer listed, once, unnamed.
        let other: Tag = "v2".parse().unwrap();
        store
            .set_refs(vec![(RefName::new("x", &other), old.clone())])
            .unwrap();
        let old_digest: Sha256 = old.digest().to_string().parse().unwrap();
        assert_eq!(store.referrers(&old_digest).unwrap(), vec![sbom.clone()]);
        assert_eq!(store.gc().unwrap().blobs, 0);

        // Once no tag names the image, gc drops its referrer and both go.
        let new = image(&store, "new");
        store
            .set_refs(vec![
                (RefName::new("x", &tag), new.clone()),
                (RefName::new("x", &other), new),
            ])
            .unwrap();
        let report = store.gc().unwrap();
        assert!(
            report.blobs >= 4,
            "old manifest, config, layer, sbom manifest: {report:?}"
        );
        assert!(store.referrers(&old_digest).unwrap().is_empty());
        assert!(store.index().unwrap().iter().all(|d| ref_name(d).is_some()));
        assert!(store.fsck(false).unwrap().problems.is_empty());
    }

    #[test]
    fn gc_follows_docker_manifests_and_fsck_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = layer(&store, "a config stand-in");
        let data = layer(&store, "a layer");
        let orphan = layer(&store, "nobody refers to this");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config.digest.to_string(), "size": config.size},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": data.digest.to_string(), "size": data.size}]
        });
        let descriptor = store
            .put_json(
                &manifest,
                MediaType::Other("application/vnd.docker.distribution.manifest.v2+json".into()),
            )
            .unwrap();
        let tag: Tag = "docker-typed".parse().unwrap();
        store
            .set_refs(vec![(RefName::new("x", &tag), descriptor)])
            .unwrap();
        drop(store);
        let store = Store::open_existing(dir.path()).unwrap();
        let report = store.gc().unwrap();
        assert_eq!(report.blobs, 1, "only the orphan goes: {report:?}");
        assert!(!store.blob_path(&orphan.digest).exists());
        assert!(store.blob_path(&data.digest).is_file());
        assert!(store.fsck(false).unwrap().problems.is_empty());

        flip(&store.blob_path(&data.digest));
        let found = store.fsck(false).unwrap();
        assert_eq!(found.problems.len(), 1);
        assert_eq!(found.problems[0].refs, vec!["x:docker-typed".to_string()]);
        let repaired = store.fsck(true).unwrap();
        assert_eq!(repaired.deleted, vec![data.digest.to_string()]);
        assert_eq!(repaired.dropped_refs, vec!["x:docker-typed".to_string()]);
        assert!(store.index().unwrap().is_empty());
    }

    #[test]
    fn crafted_digests_never_reach_outside_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secret.json"), br#"{"layers":[]}"#).unwrap();
        let store = Store::open(&dir.path().join("oci")).unwrap();
        for crafted in ["sha256:../../secret.json", "../../../secret.json", "sha256:"] {
            // Digests as a document writes them: typed ones cannot be crafted.
            assert!(crafted.parse::<Sha256>().is_err());
            let path = store.path_of(crafted);
            assert!(
                path.starts_with(dir.path().join("oci/blobs/sha256")),
                "{}",
                path.display()
            );
            assert!(!path.exists());
            assert!(store.small_children(crafted).is_none());
            assert!(store.check_named(crafted, 13).is_err());
        }
    }

    #[test]
    fn folders_that_are_not_layouts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let error = Store::open_existing(dir.path()).unwrap_err();
        assert!(matches!(error, StoreError::NotALayout { .. }), "{error}");
        assert!(!dir.path().join("blobs").exists());
    }
}
