//! SHA-256 digests, computed while bytes stream past (never by holding a
//! whole file), and checked before anything is used.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256 as Hasher};
use thiserror::Error;

/// A sha256 digest, shown as `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256([u8; 32]);

/// Text that is not a sha256 digest.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a sha256 digest (64 hex digits, optionally after `sha256:`)")]
pub struct DigestError(pub String);

impl Sha256 {
    /// The 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(Hasher::digest(bytes).into())
    }

    /// Digest of everything `reader` yields, streamed.
    pub fn of_reader(reader: impl Read) -> io::Result<(Sha256, u64)> {
        let mut writer = HashingWriter::new(io::sink());
        let mut reader = reader;
        io::copy(&mut reader, &mut writer)?;
        Ok(writer.finish().1)
    }
}

impl From<[u8; 32]> for Sha256 {
    /// A digest computed elsewhere (a hasher fed alongside another).
    fn from(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }
}

impl FromStr for Sha256 {
    type Err = DigestError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let hex_part = input.strip_prefix("sha256:").unwrap_or(input);
        let mut bytes = [0u8; 32];
        if hex_part.len() != 64 || hex::decode_to_slice(hex_part, &mut bytes).is_err() {
            return Err(DigestError(input.to_string()));
        }
        Ok(Sha256(bytes))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A file's SHA-256 and SHA-1 (the checksum SPDX requires of every file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// Its SHA-256.
    pub sha256: Sha256,
    /// Its SHA-1, 40 lowercase hex digits.
    pub sha1: String,
}

/// The identity of a file's bytes as the kernel stamps them: device,
/// inode, size, mtime and ctime. A write(2) moves ctime, which no program
/// can set back, so a file changed during the run gets a new identity and
/// is hashed again; the exceptions are a write in the same clock tick as
/// the one before (see [`FileId::settled_before`]) and bytes changed
/// through a shared memory map, whose times move only when the page is
/// written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file was last written before `time`. Timestamps move
    /// in clock ticks, so a write in the same tick as the one before it
    /// leaves the identity as it was; a file last written a second or
    /// more before it is read cannot be changed unseen while it is read.
    pub fn settled_before(&self, time: std::time::SystemTime) -> bool {
        let since_epoch = |(secs, nanos): (i64, i64)| {
            u64::try_from(secs)
                .ok()
                .map(|secs| std::time::Duration::new(secs, nanos.clamp(0, 999_999_999) as u32))
        };
        let Ok(limit) = time.duration_since(std::time::UNIX_EPOCH) else {
            return false;
        };
        [self.mtime, self.ctime]
            .into_iter()
            .all(|stamp| since_epoch(stamp).is_some_and(|stamp| stamp < limit))
    }
}

/// A file's bytes as this process knows them: the file's path and the
/// identity it had. The path keeps an inode that was freed and reused
/// elsewhere from being taken for the file it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BytesKey {
    path: std::path::PathBuf,
    id: FileId,
}

/// Files this process made as copies of others (by their key when made),
/// with their source's key: a copy's bytes are hashed once for all copies
/// of one source (an app's tree per arch).
type Copies = std::collections::HashMap<BytesKey, BytesKey>;
static COPIES: std::sync::OnceLock<std::sync::Mutex<Copies>> = std::sync::OnceLock::new();

/// Records that the file at `copy` holds the bytes of the file at `source`
/// (with the metadata it had), or with `None` that it holds bytes of its
/// own (a copy written over an earlier one may keep its identity: same
/// inode, same size, the same clock tick). Only for a source that did not
/// change while it was copied, had settled before the copy began
/// ([`FileId::settled_before`]) and lives where identities are stable
/// (`fsutil::stable_identity`), and a copy that nothing but such copies
/// writes to afterwards.
pub fn record_copy(
    copy: &std::path::Path,
    source: Option<(&std::path::Path, &std::fs::Metadata)>,
) -> io::Result<()> {
    let key = BytesKey {
        path: copy.to_path_buf(),
        id: FileId::of(&std::fs::metadata(copy)?),
    };
    let mut copies = COPIES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match source {
        Some((path, meta)) => copies.insert(
            key,
            BytesKey {
                path: path.to_path_buf(),
                id: FileId::of(meta),
            },
        ),
        None => copies.remove(&key),
    };
    Ok(())
}

/// The path and identity whose bytes the file at `path` holds (for tests
/// of copies).
#[cfg(test)]
pub(crate) fn bytes_origin(path: &std::path::Path) -> io::Result<(std::path::PathBuf, FileId)> {
    let key = bytes_of(path)?.key().clone();
    Ok((key.path, key.id))
}

/// Whose bytes the file at `path` holds: its source's for a recorded copy
/// (`Bytes::Settled`: a file settled before it was copied, whose hash may
/// be kept across runs), else its own.
fn bytes_of(path: &std::path::Path) -> io::Result<Bytes> {
    let own = BytesKey {
        path: path.to_path_buf(),
        id: FileId::of(&std::fs::metadata(path)?),
    };
    let source = COPIES.get().and_then(|copies| {
        copies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&own)
            .cloned()
    });
    Ok(source.map_or(Bytes::Own(own), Bytes::Settled))
}

/// Whose bytes a file holds (see [`bytes_of`]).
#[derive(Debug, Clone)]
enum Bytes {
    /// Its own, known in this process only.
    Own(BytesKey),
    /// Those of a settled file it was copied from.
    Settled(BytesKey),
}

impl Bytes {
    fn key(&self) -> &BytesKey {
        match self {
            Bytes::Own(key) | Bytes::Settled(key) => key,
        }
    }
}

/// The SHA-256 kept in `dir` for a settled file: its identity changes
/// with any write to it, so the record holds until then.
fn kept_settled_in(dir: &std::path::Path, key: &BytesKey) -> Option<Sha256> {
    let record = crate::fsutil::read_text_capped(&dir.join(settled_record(key)), 128).ok()?;
    let hex = record.trim();
    (hex.len() == 64).then(|| hex.parse().ok()).flatten()
}

/// Keeps the SHA-256 of a settled file in `dir`, if that folder exists.
fn keep_settled_in(dir: &std::path::Path, key: &BytesKey, sha256: &Sha256) {
    if dir.is_dir() {
        // A failed record only costs a hash next time.
        let _ = crate::fsutil::write_verified_later(
            &dir.join(settled_record(key)),
            format!("{}\n", sha256.hex()).as_bytes(),
        );
    }
}

/// The record's name: a digest of the path and every part of the identity.
fn settled_record(key: &BytesKey) -> String {
    use std::os::unix::ffi::OsStrExt;
    let FileId {
        dev,
        ino,
        len,
        mtime,
        ctime,
    } = key.id;
    let mut text = format!(
        "settled {dev} {ino} {len} {}.{} {}.{} ",
        mtime.0, mtime.1, ctime.0, ctime.1
    )
    .into_bytes();
    text.extend_from_slice(key.path.as_os_str().as_bytes());
    Sha256::of(&text).hex()
}

/// Where the hashes of cache files are kept across runs (the download
/// cache's `hashes/`), so an SBOM never reads a download again: it is
/// hashed once, when it is fetched (an unpacked member, when first used).
static KEPT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Keeps the hashes of cache files in `dir` from now on (the first call
/// in a process wins: one download cache per run).
pub fn keep_hashes_in(dir: &std::path::Path) {
    let _ = KEPT.set(dir.to_path_buf());
}

/// Hashes kept for the file with identity `id`, valid while the file keeps
/// the stamp it had when hashed (the record is `STAMP SHA256 SHA1`). A
/// record is small and read through a cap; an `id` that is a verified
/// digest wins over whatever SHA-256 the record says.
fn kept(path: &std::path::Path, id: &str) -> Option<FileHashes> {
    kept_in(KEPT.get()?, path, id)
}

fn kept_in(dir: &std::path::Path, path: &std::path::Path, id: &str) -> Option<FileHashes> {
    let record_path = dir.join(Sha256::of(id.as_bytes()).hex());
    let record = crate::fsutil::read_text_capped(&record_path, 512).ok()?;
    let mut fields = record.split_whitespace();
    let (stamp, sha256, sha1) = (fields.next()?, fields.next()?, fields.next()?);
    let meta = std::fs::metadata(path).ok()?;
    let sha1_ok = sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_hexdigit());
    if stamp != crate::fsutil::file_stamp(&meta) || !sha1_ok {
        return None;
    }
    Some(FileHashes {
        sha256: id.parse().or_else(|_| sha256.parse()).ok()?,
        sha1: sha1.to_ascii_lowercase(),
    })
}

/// Records `hashes` for `id`, only where the cache made its `hashes/`
/// folder (a folder that is gone is never made again here).
fn keep(path: &std::path::Path, id: &str, hashes: &FileHashes) {
    let (Some(dir), Ok(meta)) = (KEPT.get(), std::fs::metadata(path)) else {
        return;
    };
    if !dir.is_dir() {
        return;
    }
    let record = format!(
        "{} {} {}\n",
        crate::fsutil::file_stamp(&meta),
        hashes.sha256.hex(),
        hashes.sha1
    );
    // A failed record only costs a hash next time.
    let _ =
        crate::fsutil::write_verified_later(&dir.join(Sha256::of(id.as_bytes()).hex()), record.as_bytes());
}

#[cfg(test)]
mod kept_tests {
    use super::*;

    /// The SHA-256 alone (a layer key) and then both hashes (an SBOM) agree
    /// with hashing the bytes, and both follow the file when it changes.
    #[test]
    fn the_sha256_alone_and_both_hashes_agree() {
        use sha1::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, b"a tool").unwrap();
        assert_eq!(file_sha256(&file).unwrap(), Sha256::of(b"a tool"));
        let both = file_hashes(&file, None).unwrap();
        assert_eq!(both.sha256, Sha256::of(b"a tool"));
        assert_eq!(both.sha1, hex::encode(sha1::Sha1::digest(b"a tool")));
        std::fs::write(&file, b"another tool").unwrap();
        assert_eq!(file_sha256(&file).unwrap(), Sha256::of(b"another tool"));
        assert_eq!(
            file_hashes(&file, None).unwrap().sha256,
            Sha256::of(b"another tool")
        );
    }

    /// A recorded copy is taken to hold its source's bytes (so it is not
    /// read again), until the copy itself changes; a file is settled only
    /// once a time after its last write has come.
    #[test]
    fn a_recorded_copy_shares_its_sources_hash_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (source, copy) = (dir.path().join("source"), dir.path().join("copy"));
        std::fs::write(&source, b"one").unwrap();
        // Bytes that differ from the source's show which hash is used.
        std::fs::write(&copy, b"two").unwrap();
        let meta = |path: &std::path::Path| std::fs::metadata(path).unwrap();
        assert_eq!(file_sha256(&source).unwrap(), Sha256::of(b"one"));
        record_copy(&copy, Some((&source, &meta(&source)))).unwrap();
        assert_eq!(
            bytes_origin(&copy).unwrap(),
            (source.clone(), FileId::of(&meta(&source)))
        );
        assert_eq!(file_sha256(&copy).unwrap(), Sha256::of(b"one"));
        record_copy(&copy, None).unwrap();
        assert_eq!(
            bytes_origin(&copy).unwrap(),
            (copy.clone(), FileId::of(&meta(&copy)))
        );
        record_copy(&copy, Some((&source, &meta(&source)))).unwrap();
        std::fs::write(&copy, b"three").unwrap();
        assert_eq!(file_sha256(&copy).unwrap(), Sha256::of(b"three"));
        let now = std::time::SystemTime::now();
        let id = FileId::of(&meta(&copy));
        assert!(!id.settled_before(now - std::time::Duration::from_secs(1)));
        assert!(id.settled_before(now + std::time::Duration::from_secs(1)));
    }

    /// The SHA-256 of a settled file is kept under its path and identity;
    /// a changed identity or another path finds nothing, a record that is
    /// not a digest is ignored, and nothing is written where the folder is
    /// gone.
    #[test]
    fn settled_hashes_are_kept_by_path_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, b"a tool").unwrap();
        let key_of = |path: &std::path::Path| BytesKey {
            path: path.to_path_buf(),
            id: FileId::of(&std::fs::metadata(&file).unwrap()),
        };
        let key = key_of(&file);
        assert_eq!(kept_settled_in(dir.path(), &key), None);
        keep_settled_in(dir.path(), &key, &Sha256::of(b"a tool"));
        assert_eq!(kept_settled_in(dir.path(), &key), Some(Sha256::of(b"a tool")));
        assert_eq!(
            kept_settled_in(dir.path(), &key_of(&dir.path().join("other"))),
            None
        );
        std::fs::write(&file, b"another tool").unwrap();
        assert_eq!(kept_settled_in(dir.path(), &key_of(&file)), None);
        std::fs::write(dir.path().join(settled_record(&key)), "not a digest\n").unwrap();
        assert_eq!(kept_settled_in(dir.path(), &key), None);
        let gone = dir.path().join("gone");
        keep_settled_in(&gone, &key, &Sha256::of(b"a tool"));
        assert!(!gone.exists());
    }

    /// Hashes are kept across runs for a cache file, a record whose stamp
    /// no longer matches is ignored, and a verified digest beats the record.
    #[test]
    fn kept_hashes_follow_the_file_and_the_verified_digest() {
        let dir = tempfile::tempdir().unwrap();
        let hashes_dir = dir.path().join("hashes");
        std::fs::create_dir(&hashes_dir).unwrap();
        keep_hashes_in(&hashes_dir);
        let Some(kept_dir) = KEPT.get().cloned() else {
            unreachable!()
        };
        let file = dir.path().join("blob");
        std::fs::write(&file, b"some bytes").unwrap();
        let id = Sha256::of(b"some bytes").to_string();
        let real = hash_file(&file, None).unwrap();
        let record = kept_dir.join(Sha256::of(id.as_bytes()).hex());
        let stamp = crate::fsutil::file_stamp(&std::fs::metadata(&file).unwrap());
        // A record claiming another SHA-256 for a verified digest: the digest wins.
        std::fs::create_dir_all(&kept_dir).unwrap();
        std::fs::write(&record, format!("{stamp} {} {}\n", "0".repeat(64), real.sha1)).unwrap();
        assert_eq!(kept_in(&kept_dir, &file, &id), Some(real.clone()));
        // The file changed: the record no longer counts.
        std::fs::write(&file, b"other bytes!").unwrap();
        assert_eq!(kept_in(&kept_dir, &file, &id), None);
        // Not hex: ignored.
        let stamp = crate::fsutil::file_stamp(&std::fs::metadata(&file).unwrap());
        std::fs::write(
            &record,
            format!("{stamp} {} {}\n", "0".repeat(64), "z".repeat(40)),
        )
        .unwrap();
        assert_eq!(kept_in(&kept_dir, &file, &id), None);
    }
}

/// Per-file results of this process, keyed by the file's bytes (a recorded
/// copy shares its source's key). Each file has a slot of its own, held
/// while it is hashed: a second caller waits for the first instead of
/// reading the same bytes again.
type Memo<T> = std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<BytesKey, Slot<T>>>>;
type Slot<T> = std::sync::Arc<std::sync::Mutex<Option<T>>>;

fn memo_slot<T>(memo: &'static Memo<T>, key: BytesKey) -> Slot<T> {
    memo.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

fn once_per_file<T: Clone>(
    memo: &'static Memo<T>,
    path: &std::path::Path,
    compute: impl FnOnce(Bytes) -> io::Result<T>,
) -> io::Result<T> {
    let bytes = bytes_of(path)?;
    let slot = memo_slot(memo, bytes.key().clone());
    let mut value = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(done) = value.as_ref() {
        return Ok(done.clone());
    }
    let done = compute(bytes)?;
    *value = Some(done.clone());
    Ok(done)
}

/// SHA-256s of files computed without their SHA-1 ([`file_sha256`]).
static SHA256_MEMO: Memo<Sha256> = std::sync::OnceLock::new();

/// The SHA-256 of a file, read once per process. A layer's input key needs
/// only this; the SHA-1 an SBOM lists is computed when an SBOM is written,
/// so an unchanged rebuild of an app folder never computes it.
pub fn file_sha256(path: &std::path::Path) -> io::Result<Sha256> {
    once_per_file(&SHA256_MEMO, path, |bytes| {
        let settled = match (KEPT.get(), bytes) {
            (Some(dir), Bytes::Settled(key)) => Some((dir, key)),
            _ => None,
        };
        if let Some(done) = settled.as_ref().and_then(|(dir, key)| kept_settled_in(dir, key)) {
            return Ok(done);
        }
        let done = Sha256::of_reader(std::fs::File::open(path)?)?.0;
        if let Some((dir, key)) = settled {
            keep_settled_in(dir, &key, &done);
        }
        Ok(done)
    })
}

/// The hashes of a file, read once per process: every cell of a run lists
/// the same downloads in its SBOM and input keys, and hashing them per cell
/// cost more than compressing them. `id` is a stable identity of a cache
/// file's bytes (`sha256:<hex>` of a verified blob, whose SHA-256 is then
/// not computed again, or `<digest>/<member>`); such files' hashes are also
/// kept across runs (see [`keep_hashes_in`]). A SHA-256 that
/// [`file_sha256`] computed is not computed again either.
pub fn file_hashes(path: &std::path::Path, id: Option<&str>) -> io::Result<FileHashes> {
    static MEMO: Memo<FileHashes> = std::sync::OnceLock::new();
    once_per_file(&MEMO, path, |bytes| {
        if let Some(done) = id.and_then(|id| kept(path, id)) {
            return Ok(done);
        }
        let known: Option<Sha256> = match id.and_then(|id| id.parse().ok()) {
            Some(known) => Some(known),
            None => memo_slot(&SHA256_MEMO, bytes.key().clone())
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        };
        let done = hash_file(path, known.as_ref())?;
        if let Some(id) = id {
            keep(path, id, &done);
        }
        Ok(done)
    })
}

fn hash_file(path: &std::path::Path, known: Option<&Sha256>) -> io::Result<FileHashes> {
    use sha1::Digest as _;
    let mut file = std::fs::File::open(path)?;
    let mut sha1 = sha1::Sha1::new();
    let mut sha256 = known.is_none().then(Hasher::new);
    let mut buffer = vec![0u8; 1 << 18];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        sha1.update(&buffer[..n]);
        if let Some(hasher) = sha256.as_mut() {
            hasher.update(&buffer[..n]);
        }
    }
    Ok(FileHashes {
        sha256: match (known, sha256) {
            (Some(known), _) => known.clone(),
            (None, Some(hasher)) => Sha256(hasher.finalize().into()),
            (None, None) => unreachable!("a hasher exists when no digest is known"),
        },
        sha1: hex::encode(sha1.finalize()),
    })
}

/// A writer that hashes and counts what it passes on.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner writer, and what hashes and counts bytes written to it
    /// directly (a writer filled from a reader, see `oci::Fill`).
    pub fn split(&mut self) -> (&mut W, impl FnMut(&[u8]) + '_) {
        let (hasher, count) = (&mut self.hasher, &mut self.count);
        let seen = move |bytes: &[u8]| {
            hasher.update(bytes);
            *count += bytes.len() as u64;
        };
        (&mut self.inner, seen)
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, (Sha256, u64)) {
        (self.inner, (Sha256(self.hasher.finalize().into()), self.count))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

crate::error::fault!(bad_input: DigestError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let empty = Sha256::of(b"");
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(empty.to_string().parse::<Sha256>().unwrap(), empty);
        assert_eq!(empty.hex().parse::<Sha256>().unwrap(), empty);
        assert!("sha256:abc".parse::<Sha256>().is_err());
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data = vec![7u8; 100_000];
        let (digest, size) = Sha256::of_reader(data.as_slice()).unwrap();
        assert_eq!(digest, Sha256::of(&data));
        assert_eq!(size, 100_000);
    }
}
