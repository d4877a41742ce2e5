//! An image's file tree read back from its layers (in order, whiteouts
//! applied), streamed: every regular file is hashed as it passes, and only
//! the small text files the checks read are kept.

use std::io::{self, Read};

use crate::digest::{HashingWriter, Sha256};
use crate::oci::{Compression, LayerTree};

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

/// The image's tree.
#[derive(Default)]
pub struct ImageFiles {
    files: LayerTree<FileInfo>,
    kept: u64,
}

impl ImageFiles {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer on top of what is there (the one layer reader:
    /// whiteouts honoured).
    pub fn apply_layer(&mut self, blob: impl Read, compression: Compression) -> io::Result<()> {
        let kept = &mut self.kept;
        self.files.apply(blob, compression, |entry| {
            let header = entry.header;
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
                let keep = size <= KEEP_BYTES && *kept + size <= KEEP_TOTAL && wants_text(entry.path);
                if keep {
                    let mut bytes = Vec::with_capacity(size as usize);
                    entry.content.read_to_end(&mut bytes)?;
                    info.digest = Some(Sha256::of(&bytes));
                    *kept += bytes.len() as u64;
                    info.text = Some(bytes);
                } else {
                    let mut writer = HashingWriter::new(io::sink());
                    io::copy(entry.content, &mut writer)?;
                    info.digest = Some(writer.finish().1.0);
                }
            }
            Ok(Some(info))
        })
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
        self.files.iter()
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
