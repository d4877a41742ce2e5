//! File-system helpers every writer shares: atomic writes (temp file +
//! rename in the same folder, so readers never see half a file) with the
//! user's umask respected, folders created beneath a root without ever
//! following a link, link targets resolved virtually so a chain of links
//! cannot lead out, and I/O errors that name the path they hit.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use thiserror::Error;

/// Reads a text file of at most `max` bytes: the size is checked before
/// reading (`metadata().len()`) and the read goes through a limit, so a
/// huge or growing file (or a device) is refused without being read whole.
pub fn read_text_capped(path: &Path, max: u64) -> io::Result<String> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let too_big = |size: u64| {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{size} bytes or more, over the {max}-byte limit"),
        )
    };
    let size = file.metadata()?.len();
    if size > max {
        return Err(too_big(size));
    }
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

/// Writes `bytes` to `path` atomically and durably (synced before the
/// rename), readable as the umask allows. For files nothing else can
/// rebuild: `index.json`, `oci-layout`, the lock.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_renamed(path, bytes, true)
}

/// Writes `bytes` to `path` atomically without waiting for the disk: for
/// content-addressed blobs, records and stamps that are verified on use,
/// so a copy torn by a crash is detected and written again.
pub fn write_verified_later(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_renamed(path, bytes, false)
}

fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = temp_file_in(dir)?;
    temp.write_all(bytes)?;
    if sync {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// A temp file created with mode 0666 less the umask (tempfile's default is
/// 0600, which would leave layout files unreadable to other users).
pub fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// A temp folder in `dir` whose final mode follows the umask once
/// [`publish_dir_mode`] is applied before it is renamed into place.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir_in(dir)
}

/// Gives a staged folder the mode a `mkdir` would have (0777 less umask).
pub fn publish_dir_mode(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777 & !umask()))
}

/// The process umask, probed once by creating a folder (reading it
/// without changing it needs no libc).
pub fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(|| {
        let probe = std::env::temp_dir().join(format!(".matrix-umask-{}", std::process::id()));
        let mode = fs::create_dir(&probe)
            .and_then(|()| fs::metadata(&probe))
            .map(|meta| meta.permissions().mode() & 0o777);
        let _ = fs::remove_dir(&probe);
        mode.map_or(0o022, |mode| !mode & 0o777)
    })
}

/// Why a path beneath a root was refused.
#[derive(Debug, Error)]
pub enum BeneathError {
    /// A component on the way is a symbolic link (never followed while writing).
    #[error("`{path}`: `{component}` is a symbolic link; nothing is written through a link")]
    ThroughLink {
        /// The relative path being written.
        path: String,
        /// The component that is a link.
        component: String,
    },
    /// A component on the way is a file.
    #[error("`{path}`: `{component}` is not a folder")]
    NotADir {
        /// The relative path being written.
        path: String,
        /// The component that is a file.
        component: String,
    },
    /// The path itself is not a clean relative path.
    #[error("`{path}`: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// File-system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A clean relative path: UTF-8, `/`-separated, not empty, no leading `/`,
/// no empty, `.` or `..` component. Every "stays inside" check (archive
/// members, context paths, config paths, mirror tree paths) goes through
/// this one type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

impl RelPath {
    /// Parses `/`-separated text.
    pub fn parse(text: &str) -> Result<RelPath, &'static str> {
        if text.is_empty() {
            return Err("it is empty");
        }
        if text.starts_with('/') {
            return Err("it is an absolute path");
        }
        for part in text.split('/') {
            match part {
                "" => return Err("it has an empty component"),
                "." => return Err("it contains `.`"),
                ".." => return Err("it contains `..`"),
                _ => {}
            }
        }
        Ok(RelPath(text.to_string()))
    }

    /// From a file-system path (as an archive stores it): `.` components
    /// are dropped, anything else unclean is refused.
    pub fn from_path(raw: &Path) -> Result<RelPath, &'static str> {
        let mut parts = Vec::new();
        for component in raw.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str().ok_or("its name is not UTF-8")?),
                Component::CurDir => {}
                Component::ParentDir => return Err("it contains `..`"),
                Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
            }
        }
        if parts.is_empty() {
            return Err("it is empty");
        }
        Ok(RelPath(parts.join("/")))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its components.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Creates the folders leading to `relative` beneath `root`, one component
/// at a time, refusing any component that exists as a link or a file.
/// Returns the full path of `relative` (which itself may not exist yet).
pub fn prepare_beneath(root: &Path, relative: &str) -> Result<PathBuf, BeneathError> {
    let clean = RelPath::parse(relative).map_err(|reason| BeneathError::BadPath {
        path: relative.to_string(),
        reason,
    })?;
    let parts: Vec<&str> = clean.parts().collect();
    let mut current = root.to_path_buf();
    let (last, parents) = parts
        .split_last()
        .unwrap_or_else(|| unreachable!("clean paths are non-empty"));
    for part in parents {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(BeneathError::ThroughLink {
                    path: relative.to_string(),
                    component: part.to_string(),
                });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(BeneathError::NotADir {
                    path: relative.to_string(),
                    component: part.to_string(),
                });
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(|source| BeneathError::Io {
                    path: current.clone(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(BeneathError::Io {
                    path: current,
                    source,
                });
            }
        }
    }
    current.push(last);
    if fs::symlink_metadata(&current).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(BeneathError::ThroughLink {
            path: relative.to_string(),
            component: last.to_string(),
        });
    }
    Ok(current)
}

/// Most links followed while resolving one path (Linux's own limit is 40).
const MAX_LINK_HOPS: usize = 40;

/// Resolves `target`, a link stored at `link_path` (both relative to a
/// root), through the links in `links` (path -> target) the way the kernel
/// would, and returns the resolved path's components; `None` when the
/// resolution leaves the root, is absolute, or loops.
pub fn resolve_link(links: &BTreeMap<String, String>, link_path: &str, target: &str) -> Option<Vec<String>> {
    let mut base: Vec<String> = link_path.split('/').map(str::to_string).collect();
    base.pop();
    let mut hops = 0;
    resolve_from(links, base, target, &mut hops)
}

fn resolve_from(
    links: &BTreeMap<String, String>,
    mut current: Vec<String>,
    target: &str,
    hops: &mut usize,
) -> Option<Vec<String>> {
    if target.starts_with('/') {
        return None;
    }
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => {
                current.push(part.to_str()?.to_string());
                let here = current.join("/");
                if let Some(next) = links.get(&here) {
                    *hops += 1;
                    if *hops > MAX_LINK_HOPS {
                        return None;
                    }
                    current.pop();
                    current = resolve_from(links, current, next, hops)?;
                }
            }
            Component::ParentDir => {
                current.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(current)
}

/// Every link in `links` whose resolution leaves the root, in path order.
pub fn escaping_links(links: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    links
        .iter()
        .filter(|(path, target)| resolve_link(links, path, target).is_none())
        .map(|(path, target)| (path.as_str(), target.as_str()))
        .collect()
}

/// What identifies one version of a file without reading it: size, inode,
/// mtime and ctime (any write moves ctime, which no user can set back).
/// Caches and stores keep it to skip re-hashing unchanged files.
pub fn file_stamp(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}:{}:{}.{}:{}.{}",
        meta.len(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

/// Whether an open file lives where a file's identity (device, inode,
/// size, ctime) is stable and fine-grained: ext4, xfs, btrfs, tmpfs or
/// zfs. Elsewhere (vfat's 2-second times, FUSE or CIFS inode numbers made
/// up per mount) a file can keep an identity while its bytes change, so
/// nothing is taken from a record of its identity.
pub fn stable_identity(file: &fs::File) -> bool {
    use std::os::fd::AsRawFd;
    const ZFS_SUPER_MAGIC: i64 = 0x2FC1_2FC1;
    // SAFETY: fstatfs(2) fills the zeroed struct it is given for an open
    // descriptor, which `file` keeps open for the call.
    let stats = unsafe {
        let mut stats = std::mem::zeroed::<libc::statfs>();
        if libc::fstatfs(file.as_raw_fd(), &mut stats) != 0 {
            return false;
        }
        stats
    };
    // The field's and the constants' types differ between targets.
    #[allow(clippy::unnecessary_cast)]
    let (kind, known) = (
        stats.f_type as i64,
        [
            libc::EXT4_SUPER_MAGIC as i64,
            libc::XFS_SUPER_MAGIC as i64,
            libc::BTRFS_SUPER_MAGIC as i64,
            libc::TMPFS_MAGIC as i64,
            ZFS_SUPER_MAGIC,
        ],
    );
    known.contains(&kind)
}

/// A file name shown with non-UTF-8 bytes escaped (`\xff`).
pub fn escaped_name(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().escape_ascii().to_string()
}

/// "no space left writing PATH" for a full disk, else the error as is.
pub fn describe_io(path: &Path, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::StorageFull => format!("no space left writing {}", path.display()),
        io::ErrorKind::ReadOnlyFilesystem => {
            format!("{} is on a read-only file system", path.display())
        }
        io::ErrorKind::PermissionDenied => format!("permission denied writing {}", path.display()),
        _ => format!("{}: {error}", path.display()),
    }
}

impl crate::error::Fault for BeneathError {
    fn is_bad_input(&self) -> bool {
        !matches!(self, BeneathError::Io { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn chained_links_that_climb_out_are_caught() {
        let chain = links(&[("sub/inner", ".."), ("up1", "sub/inner/..")]);
        assert_eq!(resolve_link(&chain, "sub/inner", ".."), Some(vec![]));
        assert_eq!(resolve_link(&chain, "up1", "sub/inner/.."), None);
        assert_eq!(escaping_links(&chain), vec![("up1", "sub/inner/..")]);
        let fine = links(&[("lib/a.so", "a.so.1"), ("bin/x", "../opt/x")]);
        assert!(escaping_links(&fine).is_empty());
        let looping = links(&[("a", "b"), ("b", "a")]);
        assert_eq!(escaping_links(&looping).len(), 2);
        assert!(escaping_links(&links(&[("x", "/etc/passwd")])).len() == 1);
    }

    #[test]
    fn writing_never_goes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        let error = prepare_beneath(&root, "out/evil").unwrap_err();
        assert!(matches!(error, BeneathError::ThroughLink { .. }), "{error}");
        let path = prepare_beneath(&root, "a/b/c").unwrap();
        assert_eq!(path, root.join("a/b/c"));
        assert!(root.join("a/b").is_dir());
        assert!(prepare_beneath(&root, "../x").is_err());
    }

    #[test]
    fn atomic_writes_respect_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"x").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
    }
}
