//! Safe extraction of tar.gz archives. Every entry stays inside the
//! destination: paths are clean and relative, nothing is ever written
//! through a link (each folder on the way is checked, never followed),
//! link targets are resolved through the links already unpacked (and the
//! whole tree once more at the end, so order cannot hide a chain), hard
//! links name regular files inside, devices are refused. Work is bounded:
//! total bytes, entry count and expansion ratio. The tree is unpacked into
//! a temp folder and renamed into place.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;

use thiserror::Error;

use crate::context::normal_mode;
use crate::fsutil::{
    BeneathError, RelPath, escaped_name, escaping_links, prepare_beneath, publish_dir_mode, resolve_link,
    temp_dir_in,
};

/// How much work one archive may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of file content unpacked.
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: u64,
    /// Most unpacked bytes per compressed byte, checked once more than
    /// `ratio_floor` bytes are unpacked (small text archives compress well).
    pub max_ratio: u64,
    /// Unpacked size below which the ratio is not checked.
    pub ratio_floor: u64,
}

impl Default for Limits {
    /// Generous for every real CRI bundle (the largest, cri-o's, is about
    /// 400 MB unpacked in a few hundred entries) and tight for bombs.
    fn default() -> Self {
        Limits {
            max_bytes: 4 << 30,
            max_entries: 20_000,
            max_ratio: 100,
            ratio_floor: 64 << 20,
        }
    }
}

/// Why an archive was refused or could not be unpacked.
#[derive(Debug, Error)]
pub enum ExtractError {
    /// An entry would land outside the destination, or is a device.
    #[error("archive entry `{entry}` refused: {reason}")]
    Unsafe {
        /// Entry path as stored (non-UTF-8 bytes escaped).
        entry: String,
        /// Why.
        reason: String,
    },
    /// The archive asks for more work than the limits allow.
    #[error(
        "archive refused: {what} (limit {limit})\n  help: this is not a release archive, or a limit in fetch::Limits is too small for it"
    )]
    TooBig {
        /// What was exceeded.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Reading or writing failed.
    #[error("unpacking failed at `{entry}`: {source}")]
    Io {
        /// The entry being handled (empty before the first one).
        entry: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl ExtractError {
    fn at(entry: &str) -> impl FnOnce(io::Error) -> ExtractError + '_ {
        move |source| ExtractError::Io {
            entry: entry.to_string(),
            source,
        }
    }
}

/// Counts the compressed bytes read, for the expansion ratio.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Tracks work against the limits.
struct Budget {
    limits: Limits,
    compressed: Rc<Cell<u64>>,
    bytes: u64,
    entries: u64,
}

impl Budget {
    fn entry(&mut self, size: u64) -> Result<(), ExtractError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ExtractError::TooBig {
                what: format!("more than {} entries", self.limits.max_entries),
                limit: self.limits.max_entries,
            });
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(ExtractError::TooBig {
                what: format!("more than {} bytes unpacked", self.limits.max_bytes),
                limit: self.limits.max_bytes,
            });
        }
        let compressed = self.compressed.get().max(1);
        if self.bytes > self.limits.ratio_floor && self.bytes / compressed > self.limits.max_ratio {
            return Err(ExtractError::TooBig {
                what: format!(
                    "{} bytes unpacked from {compressed} compressed (expansion over {}x)",
                    self.bytes, self.limits.max_ratio
                ),
                limit: self.limits.max_ratio,
            });
        }
        Ok(())
    }
}

fn open(archive: impl Read, limits: Limits) -> (tar::Archive<impl Read>, Budget) {
    let compressed = Rc::new(Cell::new(0));
    let reader = Counting {
        inner: archive,
        count: compressed.clone(),
    };
    let tar = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let budget = Budget {
        limits,
        compressed,
        bytes: 0,
        entries: 0,
    };
    (tar, budget)
}

/// Lists the regular-file members of a tar.gz, streaming, within `limits`.
pub fn members(archive: impl Read, limits: Limits) -> Result<Vec<String>, ExtractError> {
    let (mut tar, mut budget) = open(archive, limits);
    let mut out = Vec::new();
    for entry in tar.entries().map_err(ExtractError::at(""))? {
        let entry = entry.map_err(ExtractError::at(""))?;
        let name = escaped_name(&entry.path_bytes().as_ref().to_owned().into_path());
        budget.entry(entry.size())?;
        if entry.header().entry_type().is_file()
            && let Ok(path) = RelPath::from_path(&entry.path().map_err(ExtractError::at(&name))?)
        {
            out.push(path.to_string());
        }
    }
    Ok(out)
}

trait IntoPath {
    fn into_path(self) -> std::path::PathBuf;
}

impl IntoPath for Vec<u8> {
    fn into_path(self) -> std::path::PathBuf {
        use std::os::unix::ffi::OsStringExt;
        std::ffi::OsString::from_vec(self).into()
    }
}

/// Unpacks `archive` (tar.gz) into `dest`, which must not exist yet.
pub fn extract_tar_gz(archive: impl Read, dest: &Path, limits: Limits) -> Result<(), ExtractError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(ExtractError::at(""))?;
    let staging = temp_dir_in(parent, ".extract-").map_err(ExtractError::at(""))?;
    let root = staging.path();
    let (mut tar, mut budget) = open(archive, limits);
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    for entry in tar.entries().map_err(ExtractError::at(""))? {
        let mut entry = entry.map_err(ExtractError::at(""))?;
        let name = escaped_name(&entry.path_bytes().as_ref().to_owned().into_path());
        let refuse = |reason: &str| ExtractError::Unsafe {
            entry: name.clone(),
            reason: reason.to_string(),
        };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        }
        budget.entry(entry.size())?;
        let raw = entry.path().map_err(ExtractError::at(&name))?.into_owned();
        let relative = RelPath::from_path(&raw).map_err(refuse)?.to_string();
        let beneath = |error: BeneathError| match error {
            BeneathError::Io { source, .. } => ExtractError::Io {
                entry: name.clone(),
                source,
            },
            other => refuse(&other.to_string()),
        };
        if kind.is_dir() {
            let target = prepare_beneath(root, &relative).map_err(beneath)?;
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(refuse("a folder where a file already is")),
                Err(_) => fs::create_dir(&target).map_err(ExtractError::at(&name))?,
            }
        } else if kind.is_file() {
            let target = prepare_beneath(root, &relative).map_err(beneath)?;
            replace_file(&target).map_err(|_| refuse("a file where a folder already is"))?;
            let mode = normal_mode(entry.header().mode().map_err(ExtractError::at(&name))?);
            let mut file = fs::File::create_new(&target).map_err(ExtractError::at(&name))?;
            io::copy(&mut entry, &mut file).map_err(ExtractError::at(&name))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(ExtractError::at(&name))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(ExtractError::at(&name))?
                .ok_or_else(|| refuse("a symlink without a target"))?;
            let link = link
                .to_str()
                .ok_or_else(|| refuse("its link target is not UTF-8"))?
                .to_string();
            links.insert(relative.clone(), link.clone());
            if resolve_link(&links, &relative, &link).is_none() {
                return Err(refuse(&format!(
                    "its symlink to `{link}` resolves outside the archive root"
                )));
            }
            let target = prepare_beneath(root, &relative).map_err(beneath)?;
            replace_file(&target).map_err(|_| refuse("a symlink where a folder already is"))?;
            std::os::unix::fs::symlink(&link, &target).map_err(ExtractError::at(&name))?;
        } else if kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(ExtractError::at(&name))?
                .ok_or_else(|| refuse("a hard link without a target"))?;
            let source = RelPath::from_path(&link)
                .map_err(|_| refuse("its hard link leads outside the archive root"))?
                .to_string();
            let source = existing_file_beneath(root, &source)
                .ok_or_else(|| refuse("its hard link does not name a regular file unpacked before it"))?;
            let target = prepare_beneath(root, &relative).map_err(beneath)?;
            replace_file(&target).map_err(|_| refuse("a hard link where a folder already is"))?;
            fs::hard_link(source, &target).map_err(ExtractError::at(&name))?;
        } else {
            return Err(refuse("devices, FIFOs and other special files are not allowed"));
        }
    }
    // Links unpacked before the links they pass through are checked again
    // against the whole tree.
    if let Some((path, target)) = escaping_links(&links).first() {
        return Err(ExtractError::Unsafe {
            entry: path.to_string(),
            reason: format!("its symlink to `{target}` resolves outside the archive root"),
        });
    }
    publish_dir_mode(root).map_err(ExtractError::at(""))?;
    let kept = staging.keep();
    match fs::rename(&kept, dest) {
        Ok(()) => Ok(()),
        // Another process unpacked the same archive first: same content.
        Err(_) if dest.is_dir() => fs::remove_dir_all(&kept).map_err(ExtractError::at("")),
        Err(error) => Err(ExtractError::at("")(error)),
    }
}

/// Removes a file or link at `target` so a later entry replaces it (as tar
/// does); a folder there is an error.
fn replace_file(target: &Path) -> io::Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(io::Error::from(io::ErrorKind::IsADirectory)),
        Ok(_) => fs::remove_file(target),
        Err(_) => Ok(()),
    }
}

/// The path of a regular file at `relative` beneath `root`, reached
/// without passing through any link.
fn existing_file_beneath(root: &Path, relative: &str) -> Option<std::path::PathBuf> {
    let mut current = root.to_path_buf();
    let parts: Vec<&str> = relative.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        current.push(part);
        let meta = fs::symlink_metadata(&current).ok()?;
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() || (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return None;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(tar: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(tar).unwrap();
        gz.finish().unwrap()
    }

    /// One raw tar entry; names are written as bytes so tests can store
    /// paths the tar builder would refuse.
    #[derive(Clone, Debug)]
    enum Item {
        File(&'static str, Vec<u8>),
        Dir(&'static str),
        Link(String, String),
        Hard(String, String),
        Device(&'static str),
    }

    fn header(kind: tar::EntryType, path: &[u8], size: u64, link: &[u8]) -> tar::Header {
        let mut header = tar::Header::new_old();
        header.set_size(size);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_entry_type(kind);
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path);
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        header
    }

    fn archive(items: &[Item]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for item in items {
            let (h, data): (tar::Header, &[u8]) = match item {
                Item::File(p, d) => (
                    header(tar::EntryType::Regular, p.as_bytes(), d.len() as u64, b""),
                    d,
                ),
                Item::Dir(p) => (header(tar::EntryType::Directory, p.as_bytes(), 0, b""), b""),
                Item::Link(p, t) => (
                    header(tar::EntryType::Symlink, p.as_bytes(), 0, t.as_bytes()),
                    b"",
                ),
                Item::Hard(p, t) => (header(tar::EntryType::Link, p.as_bytes(), 0, t.as_bytes()), b""),
                Item::Device(p) => (header(tar::EntryType::Char, p.as_bytes(), 0, b""), b""),
            };
            builder.append(&h, data).unwrap();
        }
        gzip(&builder.into_inner().unwrap())
    }

    fn extract(items: &[Item]) -> (tempfile::TempDir, Result<(), ExtractError>) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("box")).unwrap();
        let result = extract_tar_gz(
            archive(items).as_slice(),
            &dir.path().join("box/out"),
            Limits::default(),
        );
        (dir, result)
    }

    /// Every path under `dir`, not following links.
    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(path) = stack.pop() {
            for child in fs::read_dir(&path).unwrap() {
                let child = child.unwrap().path();
                out.push(child.strip_prefix(dir).unwrap().display().to_string());
                if fs::symlink_metadata(&child).unwrap().is_dir() {
                    stack.push(child);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn keeps_exec_bits_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, b"docker/dockerd", 2, b"");
        h.set_mode(0o700);
        h.set_cksum();
        builder.append(&h, &b"hi"[..]).unwrap();
        let good = gzip(&builder.into_inner().unwrap());
        extract_tar_gz(good.as_slice(), &dir.path().join("out"), Limits::default()).unwrap();
        let mode = fs::metadata(dir.path().join("out/docker/dockerd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);

        for bad in ["../evil", "/etc/evil"] {
            let (dir, result) = extract(&[Item::File(bad, b"x".to_vec())]);
            assert!(
                matches!(result, Err(ExtractError::Unsafe { .. })),
                "{bad}: {result:?}"
            );
            assert_eq!(tree(dir.path()), vec!["box"]);
        }
        let (_, result) = extract(&[Item::Link("bin/passwd".into(), "../../etc/passwd".into())]);
        assert!(result.unwrap_err().to_string().contains("resolves outside"));
        let (_, result) = extract(&[Item::Device("dev/null")]);
        assert!(result.unwrap_err().to_string().contains("special files"));
    }

    /// The reported attack: links that each stay inside lexically but
    /// chain out, then a file written beneath the last one.
    #[test]
    fn chained_symlinks_cannot_climb_out() {
        let mut items = vec![
            Item::Dir("sub"),
            Item::Link("sub/inner".into(), "..".into()),
            Item::Link("up1".into(), "sub/inner/..".into()),
        ];
        for level in 2..=12 {
            items.push(Item::Link(format!("up{level}"), format!("up{}/..", level - 1)));
        }
        items.push(Item::File("up12/pwned", b"x".to_vec()));
        let (dir, result) = extract(&items);
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("`up1`") && error.contains("resolves outside"),
            "{error}"
        );
        assert_eq!(tree(dir.path()), vec!["box"]);

        // The same chain in an order where each link looks fine when it
        // arrives: caught by the final check of the whole tree.
        let (dir, result) = extract(&[
            Item::Link("up1".into(), "sub/inner/..".into()),
            Item::Dir("sub"),
            Item::Link("sub/inner".into(), "..".into()),
        ]);
        assert!(result.unwrap_err().to_string().contains("`up1`"));
        assert_eq!(tree(dir.path()), vec!["box"]);

        // Writing through a link that stays inside is refused too.
        let (_, result) = extract(&[
            Item::Dir("real"),
            Item::Link("alias".into(), "real".into()),
            Item::File("alias/x", b"x".to_vec()),
        ]);
        assert!(result.unwrap_err().to_string().contains("symbolic link"));
    }

    #[test]
    fn hard_links_name_files_inside() {
        let (_, result) = extract(&[Item::Hard("h".into(), "../../etc/passwd".into())]);
        assert!(result.unwrap_err().to_string().contains("hard link"));
        let (_, result) = extract(&[
            Item::Link("l".into(), ".".into()),
            Item::Hard("h".into(), "l".into()),
        ]);
        assert!(result.unwrap_err().to_string().contains("regular file"));
        let (dir, result) = extract(&[Item::File("a", b"x".to_vec()), Item::Hard("b".into(), "a".into())]);
        result.unwrap();
        assert_eq!(fs::read(dir.path().join("box/out/b")).unwrap(), b"x");
    }

    #[test]
    fn bombs_are_refused() {
        // 200 MB of zeros compress to about 200 KB: expansion ~1000x.
        let mut builder = tar::Builder::new(Vec::new());
        let size = 200u64 << 20;
        let h = header(tar::EntryType::Regular, b"zeros", size, b"");
        builder.append(&h, io::repeat(0).take(size)).unwrap();
        let bomb = gzip(&builder.into_inner().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            ratio_floor: 1 << 20,
            ..Limits::default()
        };
        let error = extract_tar_gz(bomb.as_slice(), &dir.path().join("out"), limits).unwrap_err();
        assert!(matches!(error, ExtractError::TooBig { .. }), "{error}");
        assert!(!dir.path().join("out").exists());

        let many: Vec<Item> = (0..30).map(|_| Item::Dir("d")).collect();
        let limits = Limits {
            max_entries: 20,
            ..Limits::default()
        };
        let error = members(archive(&many).as_slice(), limits).unwrap_err();
        assert!(error.to_string().contains("more than 20 entries"), "{error}");
    }

    #[test]
    fn non_utf8_names_are_refused_with_the_name_escaped() {
        let mut builder = tar::Builder::new(Vec::new());
        let h = header(tar::EntryType::Regular, b"bad\xffname", 1, b"");
        builder.append(&h, &b"x"[..]).unwrap();
        let data = gzip(&builder.into_inner().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let error = extract_tar_gz(data.as_slice(), &dir.path().join("out"), Limits::default()).unwrap_err();
        assert!(error.to_string().contains(r"bad\xffname"), "{error}");
    }

    /// A small xorshift generator: property tests without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// Random archives of files, folders, symlinks and hard links never
    /// create anything outside the destination, and what they leave has
    /// no link resolving outside it.
    #[test]
    fn random_archives_never_escape() {
        const NAMES: [&str; 5] = ["a", "b", "c", "..", "."];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..400 {
            let count = 1 + rng.next() % 8;
            let mut items = Vec::new();
            for _ in 0..count {
                let depth = 1 + rng.next() % 3;
                let path: Vec<&str> = (0..depth).map(|_| rng.pick(&NAMES[..3])).collect();
                let path: &'static str = Box::leak(path.join("/").into_boxed_str());
                let target_depth = 1 + rng.next() % 4;
                let target: Vec<&str> = (0..target_depth).map(|_| rng.pick(&NAMES)).collect();
                let target = target.join("/");
                items.push(match rng.next() % 4 {
                    0 => Item::File(path, b"data".to_vec()),
                    1 => Item::Dir(path),
                    2 => Item::Link(path.to_string(), target),
                    _ => Item::Hard(path.to_string(), target),
                });
            }
            let (dir, result) = extract(&items);
            let paths = tree(dir.path());
            assert!(
                paths.iter().all(|p| p == "box" || p.starts_with("box/out")),
                "{items:?} left {paths:?}"
            );
            if result.is_ok() {
                accepted += 1;
                let out = dir.path().join("box/out").canonicalize().unwrap();
                for path in paths.iter().filter(|p| p.starts_with("box/out/")) {
                    let full = dir.path().join(path);
                    if let Ok(real) = full.canonicalize() {
                        assert!(real.starts_with(&out), "{items:?}: {path} -> {}", real.display());
                    }
                }
            }
        }
        assert!(accepted > 50, "only {accepted} random archives were accepted");
    }
}
