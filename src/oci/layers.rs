//! The one reader of an image's layers as a file tree: layers are applied
//! in order, and whiteouts are honoured (`.wh.NAME` hides NAME and what is
//! under it, `.wh..wh..opq` hides everything lower layers put in its
//! folder), so a file a later layer deleted is never taken. Paths are
//! normalised; a path with `..` is skipped. Callers decide what to keep
//! of each entry; the reader decides which entries are in the image.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};

use super::layer::Compression;

/// Most entries read from one image's layers.
pub const MAX_LAYER_ENTRIES: usize = 1_000_000;

/// One entry of a layer, as the caller sees it.
pub struct LayerEntry<'e> {
    /// Normalised path (`etc/kubeadm.yml`).
    pub path: &'e str,
    /// The tar header (type, mode, size).
    pub header: &'e tar::Header,
    /// The content (regular files).
    pub content: &'e mut dyn Read,
}

/// Applies layers in order to `tree`. For every entry that is not a
/// whiteout, `keep` says what to remember of it (`None`: nothing, and the
/// path no longer holds what lower layers put there).
pub struct LayerTree<T> {
    files: BTreeMap<String, T>,
    entries: usize,
}

impl<T> Default for LayerTree<T> {
    fn default() -> Self {
        LayerTree {
            files: BTreeMap::new(),
            entries: 0,
        }
    }
}

impl<T> LayerTree<T> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer on top of what is there.
    pub fn apply(
        &mut self,
        blob: impl Read,
        compression: Compression,
        mut keep: impl FnMut(LayerEntry<'_>) -> io::Result<Option<T>>,
    ) -> io::Result<()> {
        let reader = compression.reader(blob)?;
        let mut archive = tar::Archive::new(reader);
        // What this layer put in: its own whiteouts only hide lower layers.
        let mut this_layer: HashSet<String> = HashSet::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            self.entries += 1;
            if self.entries > MAX_LAYER_ENTRIES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("more than {MAX_LAYER_ENTRIES} files"),
                ));
            }
            let raw = entry.path()?.to_string_lossy().into_owned();
            let Some(path) = normalise(&raw) else { continue };
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                self.files
                    .retain(|p, _| !p.starts_with(&prefix) || this_layer.contains(p));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{dir}/{hidden}")
                };
                self.remove_below(&gone, &this_layer);
                continue;
            }
            let header = entry.header().clone();
            if !header.entry_type().is_dir() {
                // A file over a lower folder replaces the whole folder.
                self.remove_below(&path, &this_layer);
            }
            let kept = keep(LayerEntry {
                path: &path,
                header: &header,
                content: &mut entry,
            })?;
            match kept {
                Some(value) => {
                    self.files.insert(path.clone(), value);
                }
                None => {
                    self.files.remove(&path);
                }
            }
            this_layer.insert(path);
        }
        Ok(())
    }

    /// Removes `path` and everything under it that lower layers put there.
    fn remove_below(&mut self, path: &str, this_layer: &HashSet<String>) {
        let prefix = format!("{path}/");
        self.files
            .retain(|p, _| this_layer.contains(p) || (p != path && !p.starts_with(&prefix)));
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&T> {
        self.files.get(path)
    }

    /// Every path kept, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.files.iter().map(|(p, v)| (p.as_str(), v))
    }

    /// The tree, by path.
    pub fn into_files(self) -> BTreeMap<String, T> {
        self.files
    }
}

/// A layer path without `./`, leading or trailing `/`; `None` for the
/// root or a path with `..`.
fn normalise(raw: &str) -> Option<String> {
    let path = raw
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/');
    (!path.is_empty() && !path.split('/').any(|part| part == "..")).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain tar of (path, content); a path ending in `/` is a folder.
    fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
            } else {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
            }
            header.set_mode(0o644);
            // Written raw: the tar crate refuses to write `..` itself.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            tar.append(&header, content.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn read(layers: &[Vec<u8>]) -> BTreeMap<String, String> {
        let mut tree = LayerTree::new();
        for blob in layers {
            tree.apply(blob.as_slice(), Compression::None, |entry| {
                let mut text = String::new();
                entry.content.read_to_string(&mut text)?;
                Ok(Some(text))
            })
            .unwrap();
        }
        tree.into_files()
    }

    #[test]
    fn whiteouts_hide_what_lower_layers_put_there() {
        let base = layer(&[
            ("opt/", ""),
            ("opt/tool", "v1"),
            ("opt/keep", "k"),
            ("etc/", ""),
            ("etc/old.conf", "old"),
            ("etc/sub/", ""),
            ("etc/sub/deep", "deep"),
            ("var/", ""),
            ("var/gone/", ""),
            ("var/gone/file", "x"),
        ]);
        let upper = layer(&[
            // A whiteout of a file, of a folder (and everything in it).
            ("opt/.wh.tool", ""),
            ("var/.wh.gone", ""),
            // An opaque folder: lower contents hidden, this layer's kept.
            ("etc/new.conf", "new"),
            ("etc/.wh..wh..opq", ""),
        ]);
        let files = read(&[base, upper]);
        assert!(!files.contains_key("opt/tool"), "{files:?}");
        assert_eq!(files.get("opt/keep").map(String::as_str), Some("k"));
        assert!(!files.contains_key("var/gone") && !files.contains_key("var/gone/file"));
        assert!(!files.contains_key("etc/old.conf") && !files.contains_key("etc/sub/deep"));
        assert_eq!(files.get("etc/new.conf").map(String::as_str), Some("new"));
        // A later layer can put a whited-out file back.
        let again = layer(&[("opt/tool", "v2")]);
        let files = read(&[
            layer(&[("opt/tool", "v1")]),
            layer(&[("opt/.wh.tool", "")]),
            again,
        ]);
        assert_eq!(files.get("opt/tool").map(String::as_str), Some("v2"));
    }

    #[test]
    fn a_file_over_a_folder_replaces_it_and_dotdot_is_skipped() {
        let files = read(&[
            layer(&[("a/", ""), ("a/b", "1")]),
            layer(&[("a", "file"), ("x/../../escape", "no")]),
        ]);
        assert_eq!(files.get("a").map(String::as_str), Some("file"));
        assert!(!files.contains_key("a/b"));
        assert!(files.keys().all(|p| !p.contains("..")));
    }
}
