//! The content-addressed download cache: `sha256/<hex>` blobs (only ever
//! written by rename after verification), `urls/` remembering which digest
//! a URL gave, and `extracted/<hex>/` trees of unpacked archives.
//!
//! A cache is a folder anybody can change, so an entry is used only if it
//! still verifies: its digest is computed again whenever the file's stamp
//! (size, inode, mtime, ctime) differs from the one recorded when it last
//! verified, and a bad entry is dropped so it is fetched again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Sha256;

/// A cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    /// Unpacked trees found intact in this run (checked once per run).
    intact: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Cache {
    /// Opens (and creates) a cache at `root`.
    pub fn open(root: &Path) -> io::Result<Cache> {
        for dir in ["sha256", "urls", "extracted", "tmp", "verified", "hashes"] {
            fs::create_dir_all(root.join(dir))?;
        }
        crate::digest::keep_hashes_in(&root.join("hashes"));
        Ok(Cache {
            root: root.to_path_buf(),
            intact: Default::default(),
        })
    }

    /// The default location: `$XDG_CACHE_HOME/matrix` or `~/.cache/matrix`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("matrix");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".cache").join("matrix")
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives.
    pub fn blob(&self, digest: &Sha256) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// The blob with `digest` if it is present and still verifies; a blob
    /// that does not is removed (with its unpacked tree) and `None` returned.
    pub fn verified(&self, digest: &Sha256) -> Option<PathBuf> {
        let path = self.blob(digest);
        let stamp = stamp(&path)?;
        let record = self.root.join("verified").join(digest.hex());
        if fs::read_to_string(&record).ok().as_deref() == Some(stamp.as_str()) {
            return Some(path);
        }
        let good = fs::File::open(&path)
            .and_then(Sha256::of_reader)
            .is_ok_and(|(actual, _)| actual == *digest);
        if !good {
            tracing::warn!(
                "cache entry {} does not verify; fetching it again",
                path.display()
            );
            self.drop_entry(digest);
            return None;
        }
        // A failed record only costs a re-hash next time.
        let _ = crate::fsutil::write_verified_later(&record, stamp.as_bytes());
        Some(path)
    }

    fn drop_entry(&self, digest: &Sha256) {
        let _ = fs::remove_file(self.blob(digest));
        let _ = fs::remove_file(self.root.join("verified").join(digest.hex()));
        let id = digest.to_string();
        let _ = fs::remove_file(self.root.join("hashes").join(Sha256::of(id.as_bytes()).hex()));
        self.drop_extracted(digest);
    }

    /// Removes the unpacked tree of an archive (it is made again on use).
    pub fn drop_extracted(&self, digest: &Sha256) {
        let _ = fs::remove_dir_all(self.extracted(digest));
        let _ = fs::remove_file(self.extracted_stamps(digest));
    }

    /// A temp file inside the cache, for a download in progress.
    pub fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        crate::fsutil::temp_file_in(&self.root.join("tmp"))
    }

    /// Moves a verified download into place and records it as verified.
    pub fn commit(&self, temp: tempfile::NamedTempFile, digest: &Sha256) -> io::Result<PathBuf> {
        let target = self.blob(digest);
        temp.persist(&target).map_err(|error| error.error)?;
        if let Some(stamp) = stamp(&target) {
            crate::fsutil::write_verified_later(
                &self.root.join("verified").join(digest.hex()),
                stamp.as_bytes(),
            )?;
        }
        // The SHA-1 every SBOM lists, hashed now while the download is
        // fresh in memory, so builds never read it again for that.
        crate::digest::file_hashes(&target, Some(&digest.to_string()))?;
        Ok(target)
    }

    fn url_entry(&self, url: &str) -> PathBuf {
        self.root.join("urls").join(Sha256::of(url.as_bytes()).hex())
    }

    /// The digest `url` gave last time, if its blob is still here.
    pub fn digest_of_url(&self, url: &str) -> Option<Sha256> {
        let text = fs::read_to_string(self.url_entry(url)).ok()?;
        let digest: Sha256 = text.trim().parse().ok()?;
        self.blob(&digest).is_file().then_some(digest)
    }

    /// Remembers that `url` gave `digest`.
    pub fn remember_url(&self, url: &str, digest: &Sha256) -> io::Result<()> {
        crate::fsutil::write_verified_later(&self.url_entry(url), digest.to_string().as_bytes())
    }

    /// Where the unpacked tree of an archive blob lives.
    pub fn extracted(&self, digest: &Sha256) -> PathBuf {
        self.root.join("extracted").join(digest.hex())
    }

    fn extracted_stamps(&self, digest: &Sha256) -> PathBuf {
        self.root
            .join("extracted")
            .join(format!("{}.stamps", digest.hex()))
    }

    /// Records the stamps of every file of an unpacked tree.
    pub fn record_extracted(&self, digest: &Sha256) -> io::Result<()> {
        let dir = self.extracted(digest);
        let mut files = Vec::new();
        list_files(&dir, &dir, &mut files)?;
        let mut text = String::new();
        for member in files {
            if let Some(stamp) = stamp(&dir.join(&member)) {
                text.push_str(&format!("{stamp} {member}\n"));
            }
        }
        crate::fsutil::write_verified_later(&self.extracted_stamps(digest), text.as_bytes())
    }

    /// True if every member recorded for the unpacked tree is unchanged
    /// (and the members asked for were recorded).
    pub fn extracted_intact(&self, digest: &Sha256, members: &[&str]) -> bool {
        let key = format!("{}:{}", digest.hex(), members.join("\n"));
        if self.intact.lock().is_ok_and(|set| set.contains(&key)) {
            return true;
        }
        let intact = self.check_extracted(digest, members);
        if intact && let Ok(mut set) = self.intact.lock() {
            set.insert(key);
        }
        intact
    }

    fn check_extracted(&self, digest: &Sha256, members: &[&str]) -> bool {
        let dir = self.extracted(digest);
        let Ok(text) = fs::read_to_string(self.extracted_stamps(digest)) else {
            return false;
        };
        let recorded: std::collections::BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.split_once(' ').map(|(stamp, member)| (member, stamp)))
            .collect();
        members.iter().all(|member| {
            recorded
                .get(member)
                .is_some_and(|known| stamp(&dir.join(member)).is_some_and(|now| now == *known))
        })
    }
}

/// Relative paths of the regular files under `dir` (links not followed).
fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(root, &entry.path(), out)?;
        } else if kind.is_file()
            && let Ok(relative) = entry.path().strip_prefix(root)
            && let Some(text) = relative.to_str()
        {
            out.push(text.to_string());
        }
    }
    Ok(())
}

/// A regular file's stamp (links and folders have none).
fn stamp(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.is_file().then(|| crate::fsutil::file_stamp(&meta))
}
