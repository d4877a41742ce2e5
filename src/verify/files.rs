//! An image's file tree read back from its layers (in order, whiteouts
//! applied), streamed: every regular file is hashed as it passes, and only
//! the small text files the checks read are kept.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::digest::{HashingWriter, Sha256};
use crate::oci::Compression;

/// One path of the image.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Regular file, directory or link.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Digest of the content (regular files).
    pub digest: Option<Sha256>,
    /// The content, for the small files checks read.
    pub text: Option<Vec<u8>>,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic or hard link.
    Link,
}

/// Largest file whose text is kept.
const KEEP_BYTES: u64 = 1 << 20;
/// Most text kept in all.
const KEEP_TOTAL: u64 = 64 << 20;
/// Most entries read from one image.
const MAX_ENTRIES: usize = 1_000_000;

/// The image's tree.
#[derive(Debug, Default)]
pub struct ImageFiles {
    files: BTreeMap<String, FileInfo>,
    kept: u64,
}

impl ImageFiles {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer on top of what is there.
    pub fn apply_layer(&mut self, blob: impl Read, compression: Compression) -> io::Result<()> {
        let reader = compression.reader(blob)?;
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if self.files.len() >= MAX_ENTRIES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("more than {MAX_ENTRIES} files"),
                ));
            }
            let raw = entry.path()?.to_string_lossy().into_owned();
            let path = raw
                .trim_start_matches("./")
                .trim_start_matches('/')
                .trim_end_matches('/')
                .to_string();
            if path.is_empty() || path.split('/').any(|part| part == "..") {
                continue;
            }
            let (dir, name) = path.rsplit_once('/').map_or(("", path.as_str()), |(d, n)| (d, n));
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                self.files.retain(|p, _| !p.starts_with(&prefix));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{dir}/{hidden}")
                };
                let prefix = format!("{gone}/");
                self.files.retain(|p, _| *p != gone && !p.starts_with(&prefix));
                continue;
            }
            let header = entry.header();
            let mode = header.mode().unwrap_or(0);
            let size = header.size().unwrap_or(0);
            let kind = match header.entry_type() {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                _ => Kind::Link,
            };
            let mut info = FileInfo {
                kind,
                mode,
                size,
                digest: None,
                text: None,
            };
            if kind == Kind::File {
                let keep = size <= KEEP_BYTES && self.kept + size <= KEEP_TOTAL && wants_text(&path);
                if keep {
                    let mut bytes = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut bytes)?;
                    info.digest = Some(Sha256::of(&bytes));
                    self.kept += bytes.len() as u64;
                    info.text = Some(bytes);
                } else {
                    let mut writer = HashingWriter::new(io::sink());
                    io::copy(&mut entry, &mut writer)?;
                    info.digest = Some(writer.finish().1.0);
                }
            }
            self.files.insert(path, info);
        }
        Ok(())
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&FileInfo> {
        self.files.get(path)
    }

    /// The kept text of a file, as UTF-8 (lossy).
    pub fn text(&self, path: &str) -> Option<String> {
        self.files
            .get(path)
            .and_then(|f| f.text.as_ref())
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    /// Every path, in order.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &FileInfo)> {
        self.files.iter().map(|(p, f)| (p.as_str(), f))
    }
}

/// Files the checks read: configuration, scripts, image lists, the small
/// files of the saved registry (links, manifests, configs).
fn wants_text(path: &str) -> bool {
    path.starts_with("etc/")
        || path.starts_with("scripts/")
        || path.starts_with("manifests/")
        || path.starts_with("images/shim/")
        || path.starts_with("registry/")
        || path == "Kubefile"
}
