//! The content-addressed download cache: `sha256/<hex>` blobs (only ever
//! written by rename after verification), `urls/` remembering which digest
//! a URL gave, and `extracted/<hex>/` trees of unpacked archives.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Sha256;

/// A cache folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (and creates) a cache at `root`.
    pub fn open(root: &Path) -> io::Result<Cache> {
        for dir in ["sha256", "urls", "extracted", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
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

    /// True if the blob is present.
    pub fn has(&self, digest: &Sha256) -> bool {
        self.blob(digest).is_file()
    }

    /// A temp file inside the cache, for a download in progress.
    pub fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(self.root.join("tmp"))
    }

    /// Moves a verified download into place.
    pub fn commit(&self, temp: tempfile::NamedTempFile, digest: &Sha256) -> io::Result<PathBuf> {
        let target = self.blob(digest);
        temp.persist(&target).map_err(|error| error.error)?;
        Ok(target)
    }

    fn url_entry(&self, url: &str) -> PathBuf {
        self.root.join("urls").join(Sha256::of(url.as_bytes()).hex())
    }

    /// The digest `url` gave last time, if its blob is still here.
    pub fn digest_of_url(&self, url: &str) -> Option<Sha256> {
        let text = fs::read_to_string(self.url_entry(url)).ok()?;
        let digest: Sha256 = text.trim().parse().ok()?;
        self.has(&digest).then_some(digest)
    }

    /// Remembers that `url` gave `digest`.
    pub fn remember_url(&self, url: &str, digest: &Sha256) -> io::Result<()> {
        crate::fsutil::write_atomic(&self.url_entry(url), digest.to_string().as_bytes())
    }

    /// Where the unpacked tree of an archive blob lives.
    pub fn extracted(&self, digest: &Sha256) -> PathBuf {
        self.root.join("extracted").join(digest.hex())
    }
}
