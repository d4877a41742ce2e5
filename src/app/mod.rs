//! Application and config images from `applications/<name>/<version>/`
//! (else `latest/`) and `config/<name>/<version>/`: the folder is copied
//! to a scratch place, its `init.sh` run there (`bash init.sh ARCH NAME
//! VERSION`, bounded in time, output kept), its Kubefile (or Dockerfile)
//! executed into the image's file tree, and that tree's image list
//! computed as `sealos build` does. Nothing the tool did not create is
//! written or deleted: all work happens in temporary folders.

// Errors are rare and carry their facts; they are not boxed.
#![allow(clippy::result_large_err)]

mod images;
mod inspect;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use thiserror::Error;

pub use images::{
    ImageScan, ListedImage, MissedImages, RenderedChart, chart_facts, image_list, render_charts,
};
pub use inspect::{KubefileConfig, kubefile_config};

use crate::axis::Arch;
use crate::fsutil::RelPath;
use crate::kubefile::{CommandForm, Instruction, KubefileError, merged_cmd};
use crate::oci::ImageConfig;

/// Why an application or config image cannot be made.
#[derive(Debug, Error)]
pub enum AppError {
    /// No such application or version.
    #[error("{kind} `{name}` has no folder {version}/ or latest/ under {}{}\n  help: {help}", root.display(), if known.is_empty() { String::new() } else { format!(" (it has: {})", known.join(", ")) })]
    NotFound {
        /// `application` or `config`.
        kind: &'static str,
        /// The name.
        name: String,
        /// The version asked for.
        version: String,
        /// The root folder.
        root: PathBuf,
        /// Versions it has.
        known: Vec<String>,
        /// What to do.
        help: String,
    },
    /// A version folder named on the command line is not a folder.
    #[error("{} is not a folder", path.display())]
    NotAFolder {
        /// The path given.
        path: PathBuf,
    },
    /// The Kubefile is wrong.
    #[error(transparent)]
    Kubefile(#[from] KubefileError),
    /// `init.sh` failed.
    #[error("{app} ({arch}): init.sh {status}; its last lines:\n{last}")]
    Init {
        /// `name version`.
        app: String,
        /// The arch it ran for.
        arch: Arch,
        /// How it ended.
        status: String,
        /// Its last lines of output.
        last: String,
    },
    /// `--no-run` refuses a `RUN` instruction (untrusted Kubefiles).
    #[error("{file}:{line}: RUN refused: --no-run forbids build-time commands")]
    RunRefused {
        /// The Kubefile.
        file: String,
        /// Its line.
        line: usize,
    },
    /// A `RUN` instruction failed.
    #[error("{file}:{line}: RUN {status}{}", if last.is_empty() { String::new() } else { format!("; its last lines:\n{last}") })]
    Run {
        /// The Kubefile.
        file: String,
        /// Its line.
        line: usize,
        /// How it ended.
        status: String,
        /// Its last lines of output.
        last: String,
    },
    /// A `COPY` could not be done.
    #[error("{file}:{line}: COPY {source_path}: {problem}")]
    Copy {
        /// The Kubefile.
        file: String,
        /// Its line.
        line: usize,
        /// The source.
        source_path: String,
        /// What is wrong.
        problem: CopyError,
    },
    /// A chart does not load or render.
    #[error("{chart}: {error}")]
    Chart {
        /// The chart.
        chart: String,
        /// Why (with the template's file:line:col when it failed there);
        /// printed here, so not a separate `source` in the chain.
        error: Box<crate::helm::HelmError>,
    },
    /// A file is malformed or too large.
    #[error("{file}: {message}")]
    Bad {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The application folder is larger than a build may copy.
    #[error(
        "{}: {found} is over the budget of what a build copies, {budget}; nothing was copied\n  help: keep build inputs small (fetch large files in init.sh or COPY them by URL), or remove what the image does not need",
        folder.display()
    )]
    TooLarge {
        /// The application folder.
        folder: PathBuf,
        /// What was counted when the budget ran out (`4294967297 bytes`).
        found: String,
        /// The budget (`4294967296 bytes`).
        budget: String,
    },
    /// Local file trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl AppError {
    fn io(what: impl Into<String>, source: std::io::Error) -> AppError {
        AppError::Io {
            what: what.into(),
            source,
        }
    }
}

impl crate::error::Fault for AppError {
    /// The folder, its Kubefile, charts and arguments are input; init.sh
    /// and RUN failing, or the disk, are failures (a refused RUN is input).
    fn is_bad_input(&self) -> bool {
        match self {
            AppError::NotFound { .. }
            | AppError::NotAFolder { .. }
            | AppError::Kubefile(_)
            | AppError::Bad { .. }
            | AppError::Copy { .. }
            | AppError::TooLarge { .. }
            | AppError::Chart { .. } => true,
            AppError::RunRefused { .. } => true,
            AppError::Run { .. } | AppError::Init { .. } | AppError::Io { .. } => false,
        }
    }
}

impl From<FileError> for AppError {
    fn from(error: FileError) -> Self {
        AppError::Io {
            what: error.what,
            source: error.source,
        }
    }
}

/// Local file trouble while copying: what was being done, and why it failed.
#[derive(Debug, Error)]
#[error("{what}: {source}")]
pub struct FileError {
    /// What was being done, naming the path.
    pub what: String,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

fn file_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FileError {
    let what = what.into();
    move |source| FileError { what, source }
}

/// Why a path of a Kubefile or of an image tree was refused.
#[derive(Debug, Error)]
pub enum PathError {
    /// A `..` component would leave the folder.
    #[error("`{path}` climbs out")]
    ClimbsOut {
        /// The path as written.
        path: String,
    },
    /// A component on the way is a symbolic link, which is never followed.
    #[error("`{link}` is a symbolic link; it is not followed")]
    ThroughLink {
        /// The path as written.
        path: String,
        /// The leading part of it that is a link.
        link: String,
    },
    /// Not a clean relative path once `/`, `.` and empty parts are dropped.
    #[error("`{path}`: {reason}")]
    Unclean {
        /// The path as written.
        path: String,
        /// Why.
        reason: &'static str,
    },
}

/// Why one `COPY` source could not be copied.
#[derive(Debug, Error)]
pub enum CopyError {
    /// The source climbs out of the build context.
    #[error("the source leaves the build context")]
    SourceLeaves,
    /// The destination climbs out of the image tree.
    #[error("the destination leaves the image")]
    DestinationLeaves,
    /// A `COPY --from` path climbs out of the image.
    #[error("the path leaves the image")]
    FromPathLeaves,
    /// A wildcard matched nothing.
    #[error("no file matches")]
    NoMatch,
    /// The source does not exist.
    #[error("no such file or folder in the build context")]
    Missing,
    /// A path on the way is refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The target is a symbolic link left by an earlier step.
    #[error("a symbolic link is in the way; it is not written through")]
    LinkInTheWay,
    /// The build context has more files than a COPY looks through.
    #[error("the build context has more than {limit} files")]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    File(#[from] FileError),
}

/// Application images or config images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// `applications/`.
    App,
    /// `config/`.
    Config,
    /// `dockerimages/`: plain container images built by buildah.
    Docker,
}

impl AppKind {
    fn word(self) -> &'static str {
        match self {
            AppKind::App => "application",
            AppKind::Config => "config",
            AppKind::Docker => "container image",
        }
    }
}

/// The version folder of an application (`latest/` when the version has
/// none, as labring's pipeline does, for applications and container
/// images); config images have no fallback.
pub fn folder(root: &Path, kind: AppKind, name: &str, version: &str) -> Result<PathBuf, AppError> {
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    let known = || -> Vec<String> {
        let mut list: Vec<String> = std::fs::read_dir(root.join(name))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        list
    };
    let not_found = |help: &str| AppError::NotFound {
        kind: kind.word(),
        name: name.to_string(),
        version: version.to_string(),
        root: root.to_path_buf(),
        known: if safe(name) { known() } else { Vec::new() },
        help: help.to_string(),
    };
    if !safe(name) || !safe(version) {
        return Err(not_found(
            "names and versions are letters, digits, `.`, `_` and `-`",
        ));
    }
    let exact = root.join(name).join(version);
    if exact.is_dir() {
        return Ok(exact);
    }
    let latest = root.join(name).join("latest");
    if kind != AppKind::Config && latest.is_dir() {
        return Ok(latest);
    }
    Err(not_found("create the folder, or pick one of the versions it has"))
}

/// Arches an application builds for: its `build_arch` file narrows them.
pub fn arches_of(folder: &Path, wanted: &[Arch]) -> Result<Vec<Arch>, AppError> {
    let path = folder.join("build_arch");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(wanted.to_vec());
    };
    let mut allowed = Vec::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        let arch: Arch = word.parse().map_err(|_| AppError::Bad {
            file: path.display().to_string(),
            message: format!("`{}` is not an arch (amd64, arm64)", word.escape_default()),
        })?;
        allowed.push(arch);
    }
    Ok(wanted.iter().copied().filter(|a| allowed.contains(a)).collect())
}

/// One application image a folder holds: name x version x arch, with its
/// per-arch tag, as `matrix app plan` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppEntry {
    /// The application.
    pub name: String,
    /// The version folder.
    pub version: String,
    /// An arch it builds for (`build_arch` narrows amd64 and arm64).
    pub arch: Arch,
    /// `NAME:VERSION-ARCH`.
    pub tag: String,
}

/// The one tag rule of application and config images: `<version>-<arch>`,
/// joined into the `<version>` index.
pub fn arch_tag(version: &str, arch: Arch) -> String {
    format!("{version}-{arch}")
}

/// Every application x version x arch under `root`, sorted; only the
/// applications in `names` when it is not empty.
pub fn list(root: &Path, names: &[String]) -> Result<Vec<AppEntry>, AppError> {
    let folders = |dir: &Path| -> Result<Vec<String>, AppError> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| AppError::io(format!("reading {}", dir.display()), e))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    };
    let mut entries = Vec::new();
    for name in folders(root)?
        .into_iter()
        .filter(|n| names.is_empty() || names.contains(n))
    {
        for version in folders(&root.join(&name))? {
            for arch in arches_of(&root.join(&name).join(&version), &[Arch::Amd64, Arch::Arm64])? {
                entries.push(AppEntry {
                    tag: format!("{name}:{}", arch_tag(&version, arch)),
                    name: name.clone(),
                    version: version.clone(),
                    arch,
                });
            }
        }
    }
    Ok(entries)
}

/// Copies a folder tree (files, folders, links as links) into `into`,
/// refusing special files and never writing through a link already in
/// `into` (a COPY may meet what an earlier COPY made). With `settled` (see
/// [`copy_file`]), each copy is recorded as holding its source's bytes.
pub fn copy_tree(from: &Path, into: &Path, settled: Option<SystemTime>) -> Result<(), FileError> {
    std::fs::create_dir_all(into).map_err(file_error(format!("creating {}", into.display())))?;
    let entries = std::fs::read_dir(from).map_err(file_error(format!("reading {}", from.display())))?;
    for entry in entries.filter_map(Result::ok) {
        let source = entry.path();
        let target = into.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&source)
            .map_err(file_error(format!("reading {}", source.display())))?;
        if meta.is_dir() {
            refuse_link_at(&target)?;
            copy_tree(&source, &target, settled)?;
        } else if meta.is_file() {
            copy_file(&source, &target, settled)?;
        } else if meta.file_type().is_symlink() {
            let link =
                std::fs::read_link(&source).map_err(file_error(format!("reading {}", source.display())))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(file_error(format!("linking {}", target.display())))?;
        }
    }
    Ok(())
}

/// Refuses a symbolic link at `target`: writing there would follow it.
fn refuse_link_at(target: &Path) -> Result<(), FileError> {
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(FileError {
            what: format!("copying to {}", target.display()),
            source: std::io::Error::other("a symbolic link is in the way; nothing is written through a link"),
        });
    }
    Ok(())
}

/// Copies one regular file, opened once and never through a link (one
/// swapped in after the folder was listed included), onto a target that is
/// not a link. With `settled`, a time before which the source must have
/// been last written, the copy is recorded as holding the source's bytes
/// when the source did not change while it was copied and lives where
/// identities are stable (`digest::record_copy`; else as holding bytes of
/// its own), so copies made for other arches, and later builds, do not
/// hash it again. Only for copies that nothing but this writes to
/// afterwards.
fn copy_file(from: &Path, to: &Path, settled: Option<SystemTime>) -> Result<(), FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let reading = |path: &Path| file_error(format!("reading {}", path.display()));
    let copying = || file_error(format!("copying {} to {}", from.display(), to.display()));
    // Non-blocking, so a FIFO swapped in is refused, not waited on.
    let mut source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(from)
        .map_err(reading(from))?;
    let before = source.metadata().map_err(reading(from))?;
    if !before.is_file() {
        return Err(copying()(std::io::Error::other("not a regular file")));
    }
    refuse_link_at(to)?;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)
        .map_err(copying())?;
    std::io::copy(&mut source, &mut target).map_err(copying())?;
    target.set_permissions(before.permissions()).map_err(copying())?;
    if let Some(settled) = settled {
        let after = source.metadata().map_err(reading(from))?;
        let id = crate::digest::FileId::of(&before);
        let same = id == crate::digest::FileId::of(&after)
            && id.settled_before(settled)
            && crate::fsutil::stable_identity(&source);
        crate::digest::record_copy(to, same.then_some((from, &before))).map_err(reading(to))?;
    }
    Ok(())
}

/// `root/relative`, refusing a path that climbs out or passes through a
/// symbolic link (the last part too when `through_last`), so a read or a
/// write there stays inside `root` whatever links earlier steps left.
pub fn beneath(root: &Path, relative: &str, through_last: bool) -> Result<PathBuf, PathError> {
    let Some(clean) = inside(relative)? else {
        return Ok(root.to_path_buf());
    };
    let parts: Vec<&str> = clean.parts().collect();
    let mut path = root.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        path.push(part);
        let last = index + 1 == parts.len();
        if (!last || through_last)
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(PathError::ThroughLink {
                path: relative.to_string(),
                link: parts[..=index].join("/"),
            });
        }
    }
    Ok(path)
}

/// A path as a Kubefile writes it, inside the build context or the image
/// tree: a leading `/`, `.` and empty parts are dropped and `..` refused,
/// then it is a [`RelPath`], the one rule for paths that stay inside.
/// `None` is the folder itself.
pub fn inside(path: &str) -> Result<Option<RelPath>, PathError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.contains(&"..") {
        return Err(PathError::ClimbsOut {
            path: path.to_string(),
        });
    }
    if parts.is_empty() {
        return Ok(None);
    }
    RelPath::parse(&parts.join("/"))
        .map(Some)
        .map_err(|reason| PathError::Unclean {
            path: path.to_string(),
            reason,
        })
}

/// [`inside`] as text, `""` for the folder itself.
fn inside_text(path: &str) -> Option<String> {
    inside(path)
        .ok()
        .map(|clean| clean.map(|p| p.to_string()).unwrap_or_default())
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Most bytes of init.sh's or a RUN's output kept (the end of it).
const MAX_OUTPUT: u64 = 1 << 20;

/// Runs a command in `dir` in its own session and process group, with a
/// time limit; its combined output (the last [`MAX_OUTPUT`] bytes) and how
/// it ended. The whole group is killed at the deadline and when the
/// command ends, so a background child neither outlives the build nor
/// holds it: output goes to a file, not a pipe whose end a descendant
/// could keep open.
pub fn run_bounded(
    dir: &Path,
    argv: &[String],
    env: &BTreeMap<String, String>,
    limit: Duration,
) -> Result<(bool, String, String), AppError> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::process::CommandExt;
    let what = || format!("running {}", argv.join(" "));
    let mut log = tempfile::tempfile().map_err(|e| AppError::io(what(), e))?;
    let err = log.try_clone().map_err(|e| AppError::io(what(), e))?;
    let out = log.try_clone().map_err(|e| AppError::io(what(), e))?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid(2) is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| AppError::io(what(), e))?;
    let group = child.id() as libc::pid_t;
    let deadline = std::time::Instant::now() + limit.max(Duration::from_secs(1));
    let ended = loop {
        match child.try_wait().map_err(|e| AppError::io(what(), e))? {
            Some(status) => break Some(status),
            None if std::time::Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    // SAFETY: kill(2) with a negative pid signals that process group only;
    // the group is the session the child created (its id is the child's).
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let status = match ended {
        Some(status) => status,
        None => child.wait().map_err(|e| AppError::io(what(), e))?,
    };
    let size = log.metadata().map_err(|e| AppError::io(what(), e))?.len();
    log.seek(SeekFrom::Start(size.saturating_sub(MAX_OUTPUT)))
        .map_err(|e| AppError::io(what(), e))?;
    let mut bytes = Vec::new();
    log.take(MAX_OUTPUT)
        .read_to_end(&mut bytes)
        .map_err(|e| AppError::io(what(), e))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let how = match (ended, status.code()) {
        (None, _) => format!("timed out after {} s", limit.as_secs()),
        (Some(_), Some(0)) => "succeeded".to_string(),
        (Some(_), Some(code)) => format!("failed with exit code {code}"),
        (Some(_), None) => "was killed".to_string(),
    };
    Ok((ended.is_some_and(|s| s.success()), how, text))
}

/// How to build one application for one arch.
#[derive(Debug, Clone)]
pub struct AppBuild {
    /// Application or config.
    pub kind: AppKind,
    /// Name.
    pub name: String,
    /// Version (the tag).
    pub version: String,
    /// The version folder.
    pub folder: PathBuf,
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// Skip `init.sh`.
    pub skip_init: bool,
    /// Refuse `RUN` instructions.
    pub no_run: bool,
    /// Time limit of `init.sh` and of each `RUN`.
    pub limit: Duration,
}

impl AppBuild {
    /// How `app images` and `app inspect` look at a version folder
    /// (`applications/NAME/VERSION`): an application named by the folder's
    /// parent and version by the folder, init.sh and RUN bounded at 15 min.
    pub fn of_folder(
        dir: &Path,
        build_args: BTreeMap<String, String>,
        skip_init: bool,
        no_run: bool,
    ) -> Result<AppBuild, AppError> {
        if !dir.is_dir() {
            return Err(AppError::NotAFolder {
                path: dir.to_path_buf(),
            });
        }
        let name_of = |path: Option<&Path>| {
            path.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Ok(AppBuild {
            kind: AppKind::App,
            name: name_of(dir.parent()),
            version: name_of(Some(dir)),
            folder: dir.to_path_buf(),
            build_args,
            skip_init,
            no_run,
            limit: Duration::from_secs(900),
        })
    }
}

/// An application image's parts for one arch, before it is written.
#[derive(Debug)]
pub struct AppTree {
    /// The image's file tree (a temporary folder, removed on drop).
    pub tree: tempfile::TempDir,
    /// Its config.
    pub config: ImageConfig,
    /// `FROM` image, unless scratch.
    pub base: Option<String>,
    /// Images for `registry/`.
    pub scan: ImageScan,
    /// `init.sh`'s output, if it ran.
    pub init_log: Option<String>,
    /// `COPY --from` sources still to take from images: (image, source, dest).
    pub copy_from: Vec<(String, String, String)>,
    /// Files to fetch from URLs: (url, dest path in the tree, the digest
    /// `COPY --checksum` gives).
    pub downloads: Vec<(crate::net::SecretUrl, String, Option<crate::digest::Sha256>)>,
    /// Paths the RUN instructions created or changed (their own layer).
    pub run_paths: std::collections::BTreeSet<String>,
}

/// (size, modification time) of every file below `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    let mut paths = Vec::new();
    let _ = collect(dir, "", &mut paths);
    paths
        .into_iter()
        .filter_map(|p| {
            let meta = std::fs::symlink_metadata(dir.join(&p)).ok()?;
            (!meta.is_dir()).then(|| (p, (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH))))
        })
        .collect()
}

/// The Kubefile of a folder: `Dockerfile` when it is not empty, else
/// `Kubefile`; a link is not followed (it could lead out of the folder).
pub fn build_file(dir: &Path) -> Option<(String, PathBuf)> {
    let regular = |path: &Path| std::fs::symlink_metadata(path).ok().filter(|m| m.is_file());
    let docker = dir.join("Dockerfile");
    if regular(&docker).is_some_and(|m| m.len() > 0) {
        return Some(("Dockerfile".into(), docker));
    }
    let kube = dir.join("Kubefile");
    regular(&kube).map(|_| ("Kubefile".into(), kube))
}

/// Most bytes an application folder may hold to be copied to scratch for
/// init.sh: the copy is made per arch in the temp folder, so a folder that
/// is mostly one huge (or sparse) file would fill the disk before init.sh
/// runs. Large inputs belong in init.sh downloads or `COPY` URLs.
pub const SCRATCH_BYTES: u64 = 4 << 30;
/// Most entries (files, folders, links) an application folder may hold
/// to be copied: each costs a create and a copy, so a folder of millions
/// of empty files costs minutes and inodes before init.sh runs.
pub const SCRATCH_ENTRIES: u64 = 100_000;

/// Checks a folder tree against a byte and an entry budget from metadata
/// alone (links are counted, never followed), before anything is copied.
pub fn check_budget(folder: &Path, bytes: u64, entries: u64) -> Result<(), AppError> {
    let (mut total, mut count) = (0u64, 0u64);
    let mut pending = vec![folder.to_path_buf()];
    let over = |found: String, budget: String| AppError::TooLarge {
        folder: folder.to_path_buf(),
        found,
        budget,
    };
    while let Some(dir) = pending.pop() {
        let listing =
            std::fs::read_dir(&dir).map_err(|e| AppError::io(format!("reading {}", dir.display()), e))?;
        for entry in listing {
            let entry = entry.map_err(|e| AppError::io(format!("reading {}", dir.display()), e))?;
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(|e| AppError::io(format!("reading {}", entry.path().display()), e))?;
            count += 1;
            if count > entries {
                return Err(over(
                    format!("more than {entries} entries"),
                    format!("{entries} entries"),
                ));
            }
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
                if total > bytes {
                    return Err(over(
                        format!("{total} bytes (at {})", entry.path().display()),
                        format!("{bytes} bytes"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The build context of one arch.
pub struct Staged {
    /// The scratch copy the context is in (removed on drop), if any.
    scratch: Option<tempfile::TempDir>,
    /// The context: the scratch copy, or the folder itself.
    pub context: PathBuf,
    /// What init.sh printed, if it ran.
    pub init_log: Option<String>,
}

impl Staged {
    /// Whether the context is the application folder itself, which this
    /// build does not change.
    fn in_place(&self) -> bool {
        self.scratch.is_none()
    }
}

/// The build context of one arch for matrix's own steps: the folder
/// itself when no `init.sh` runs (nothing changes it, and nothing here
/// follows its links), else [`stage_copy`].
pub fn stage(build: &AppBuild, arch: Arch) -> Result<Staged, AppError> {
    if build.skip_init || !build.folder.join("init.sh").is_file() {
        return Ok(Staged {
            scratch: None,
            context: build.folder.clone(),
            init_log: None,
        });
    }
    stage_copy(build, arch)
}

/// The build context of one arch in a scratch copy of the folder (within
/// [`SCRATCH_BYTES`] and [`SCRATCH_ENTRIES`]), `init.sh` run there unless
/// skipped: for init.sh, and for tools that may write into their context
/// (whether buildah's `RUN --mount=type=bind,rw` writes reach the context
/// has differed between its versions).
pub fn stage_copy(build: &AppBuild, arch: Arch) -> Result<Staged, AppError> {
    let app = format!("{} {}", build.name, build.version);
    check_budget(&build.folder, SCRATCH_BYTES, SCRATCH_ENTRIES)?;
    let scratch = tempfile::tempdir().map_err(|e| AppError::io("creating a scratch folder", e))?;
    let context = scratch.path().join("context");
    copy_tree(&build.folder, &context, None)?;
    let mut init_log = None;
    if !build.skip_init && context.join("init.sh").is_file() {
        let argv = vec![
            "bash".to_string(),
            "init.sh".to_string(),
            arch.to_string(),
            build.name.clone(),
            build.version.clone(),
        ];
        let (ok, status, text) = run_bounded(&context, &argv, &BTreeMap::new(), build.limit)?;
        if !ok {
            return Err(AppError::Init {
                app,
                arch,
                status,
                last: tail(&text, 20),
            });
        }
        init_log = Some(text);
    }
    Ok(Staged {
        scratch: Some(scratch),
        context,
        init_log,
    })
}

/// The image list of one arch's build context (after init.sh), as
/// `sealos build` computes it.
pub fn scan_folder(build: &AppBuild, arch: Arch) -> Result<ImageScan, AppError> {
    image_list(&stage(build, arch)?.context)
}

/// Every chart of one arch's build context (after init.sh) rendered as
/// `sealos build` renders it (`matrix app template`).
pub fn template_folder(build: &AppBuild, arch: Arch) -> Result<Vec<RenderedChart>, AppError> {
    render_charts(&stage(build, arch)?.context)
}

/// Runs `init.sh` and the Kubefile for one arch.
pub fn prepare(build: &AppBuild, arch: Arch) -> Result<AppTree, AppError> {
    // Files last written a second before the copies begin are settled.
    let began = SystemTime::now() - Duration::from_secs(1);
    let mut staged = stage(build, arch)?;
    let context = staged.context.clone();
    // COPY copies from the folder itself: the same budget as a scratch copy.
    if staged.in_place() {
        check_budget(&build.folder, SCRATCH_BYTES, SCRATCH_ENTRIES)?;
    }
    let Some((file_name, path)) = build_file(&context) else {
        return Err(AppError::Bad {
            file: build.folder.display().to_string(),
            message: "no Kubefile or Dockerfile (after init.sh); a symbolic link is not followed".into(),
        });
    };
    let label = format!("{}/{file_name}", build.folder.display());
    let text = crate::fsutil::read_text_capped(&path, crate::kubefile::MAX_BYTES as u64).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            AppError::Bad {
                file: label.clone(),
                message: format!("{e}; a Kubefile is a short text"),
            }
        } else {
            AppError::io(format!("reading {label}"), e)
        }
    })?;
    let kubefile = crate::kubefile::parse(&label, &text, &build.build_args)?;
    // The tree's copies hold the folder's bytes when they come straight
    // from it and nothing else writes to the tree.
    let settled = (staged.in_place() && copies_only(&kubefile)).then_some(began);
    let tree = tempfile::tempdir().map_err(|e| AppError::io("creating the image tree", e))?;
    let mut config = ImageConfig::default();
    let mut base = None;
    let mut cmds: Vec<&CommandForm> = Vec::new();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut copy_from = Vec::new();
    let mut downloads = Vec::new();
    let mut run_paths = std::collections::BTreeSet::new();
    for (line, instruction) in &kubefile.instructions {
        match instruction {
            Instruction::From(image) => base = (image != "scratch").then(|| image.clone()),
            Instruction::Arg(name, default) => {
                if let Some(value) = build.build_args.get(name).or(default.as_ref()) {
                    env.insert(name.clone(), value.clone());
                }
            }
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    config.env.insert(k.clone(), v.clone());
                    env.insert(k.clone(), v.clone());
                }
            }
            Instruction::Label(pairs) => config.labels.extend(pairs.iter().cloned()),
            Instruction::Maintainer(who) => config.author = Some(who.clone()),
            Instruction::Cmd(form) => cmds.push(form),
            Instruction::Entrypoint(form) => {
                config.entrypoint = match form {
                    CommandForm::Exec(items) => items.clone(),
                    CommandForm::Shell(text) => vec!["/bin/sh".into(), "-c".into(), text.clone()],
                }
            }
            Instruction::Copy {
                sources,
                dest,
                from,
                checksum,
            } => {
                let copy_error = |source: &str, problem: CopyError| AppError::Copy {
                    file: label.clone(),
                    line: *line,
                    source_path: source.to_string(),
                    problem,
                };
                let dest_path =
                    inside_text(dest).ok_or_else(|| copy_error(dest, CopyError::DestinationLeaves))?;
                let into_dir = dest.ends_with('/') || sources.len() > 1 || dest_path.is_empty();
                if let Some(image) = from {
                    for source in sources {
                        let path = inside_text(source)
                            .ok_or_else(|| copy_error(source, CopyError::FromPathLeaves))?;
                        copy_from.push((image.clone(), path, dest_path.clone()));
                    }
                    continue;
                }
                for source in sources {
                    if is_url(source) {
                        let file = source
                            .rsplit('/')
                            .next()
                            .filter(|f| !f.is_empty())
                            .unwrap_or("download");
                        let target = if into_dir || tree.path().join(&dest_path).is_dir() {
                            format!("{dest_path}/{file}").trim_start_matches('/').to_string()
                        } else {
                            dest_path.clone()
                        };
                        downloads.push((source.as_str().into(), target, checksum.clone()));
                        continue;
                    }
                    copy_source(&context, tree.path(), source, &dest_path, into_dir, settled)
                        .map_err(|m| copy_error(source, m))?;
                }
            }
            Instruction::Run(form) => {
                if build.no_run {
                    return Err(AppError::RunRefused {
                        file: label.clone(),
                        line: *line,
                    });
                }
                let argv = match form {
                    CommandForm::Exec(items) => items.clone(),
                    CommandForm::Shell(text) => vec!["sh".into(), "-c".into(), text.clone()],
                };
                let before = snapshot(tree.path());
                let (ok, status, text) = run_bounded(tree.path(), &argv, &env, build.limit)?;
                if !ok {
                    return Err(AppError::Run {
                        file: label.clone(),
                        line: *line,
                        status,
                        last: tail(&text, 20),
                    });
                }
                for (path, stamp) in snapshot(tree.path()) {
                    if before.get(&path) != Some(&stamp) {
                        run_paths.insert(path);
                    }
                }
            }
        }
    }
    config.cmd = merged_cmd(&cmds);
    // sealos build lists the images of the build context (after init.sh),
    // whatever the Kubefile copies.
    let scan = image_list(&context)?;
    Ok(AppTree {
        tree,
        config,
        base,
        scan,
        init_log: staged.init_log.take(),
        copy_from,
        downloads,
        run_paths,
    })
}

/// Whether only COPYs from the build context write to the image tree: no
/// RUN, no URL or image sources.
fn copies_only(kubefile: &crate::kubefile::Kubefile) -> bool {
    kubefile
        .instructions
        .iter()
        .all(|(_, instruction)| match instruction {
            Instruction::Run(_) => false,
            Instruction::Copy { sources, from, .. } => {
                from.is_none() && !sources.iter().any(|source| is_url(source))
            }
            _ => true,
        })
}

/// Whether a COPY source is a URL (fetched, not copied from the context).
fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Copies one COPY source (a path or a wildcard pattern, relative to the
/// context) into the tree, as buildah does: a folder's contents, files by
/// name into a folder destination.
fn copy_source(
    context: &Path,
    tree: &Path,
    source: &str,
    dest: &str,
    into_dir: bool,
    settled: Option<SystemTime>,
) -> Result<(), CopyError> {
    let pattern = inside_text(source).ok_or(CopyError::SourceLeaves)?;
    let wildcard = pattern.contains(['*', '?', '[']);
    let matches: Vec<String> = if wildcard {
        let mut found = Vec::new();
        collect(context, "", &mut found).map_err(|error| match error {
            Collect::TooMany => CopyError::TooManyFiles {
                limit: MAX_CONTEXT_FILES,
            },
            Collect::Io(source) => CopyError::File(FileError {
                what: format!("listing {}", context.display()),
                source,
            }),
        })?;
        found
            .into_iter()
            .filter(|p| crate::gotmpl::glob_match(&pattern, p))
            .collect()
    } else {
        vec![pattern.clone()]
    };
    if matches.is_empty() {
        return Err(CopyError::NoMatch);
    }
    for relative in &matches {
        let from = beneath(context, relative, false)?;
        let meta = std::fs::symlink_metadata(&from).map_err(|_| CopyError::Missing)?;
        let target_dir = beneath(tree, dest, true)?;
        if meta.is_dir() {
            copy_tree(&from, &target_dir, settled)?;
        } else {
            let name = from.file_name().map(|n| n.to_owned()).unwrap_or_default();
            let target = if into_dir || wildcard || target_dir.is_dir() {
                target_dir.join(name)
            } else {
                target_dir.clone()
            };
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(CopyError::LinkInTheWay);
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(file_error(format!("creating {}", parent.display())))?;
            }
            if meta.file_type().is_symlink() {
                let link =
                    std::fs::read_link(&from).map_err(file_error(format!("reading {}", from.display())))?;
                std::os::unix::fs::symlink(link, &target)
                    .map_err(file_error(format!("linking {}", target.display())))?;
            } else {
                copy_file(&from, &target, settled)?;
            }
        }
    }
    Ok(())
}

/// Most files a wildcard COPY looks through, so a hostile context cannot
/// make the walk unbounded.
const MAX_CONTEXT_FILES: usize = 100_000;

/// Why a walk of a folder stopped.
enum Collect {
    /// More than [`MAX_CONTEXT_FILES`].
    TooMany,
    /// Reading failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for Collect {
    fn from(error: std::io::Error) -> Self {
        Collect::Io(error)
    }
}

/// Every path (files and folders) below `dir`, relative.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), Collect> {
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if std::fs::symlink_metadata(entry.path())?.is_dir() {
            out.push(path.clone());
            collect(&entry.path(), &format!("{path}/"), out)?;
        } else {
            out.push(path);
        }
        if out.len() > MAX_CONTEXT_FILES {
            return Err(Collect::TooMany);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy is recorded as holding its source's bytes only when asked
    /// to, when the source had settled before the copy began and where
    /// identities are stable; a copy written over by one that cannot be
    /// recorded holds its own bytes.
    #[test]
    fn copies_of_settled_files_are_recorded_as_their_sources() {
        use crate::digest::{FileId, bytes_origin};
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("tool");
        std::fs::write(&source, b"a tool").unwrap();
        let stable = crate::fsutil::stable_identity(&std::fs::File::open(&source).unwrap());
        let origin = (source.clone(), FileId::of(&std::fs::metadata(&source).unwrap()));
        let later = SystemTime::now() + Duration::from_secs(60);
        let earlier = SystemTime::now() - Duration::from_secs(60);
        for (name, settled, recorded) in [
            ("a", Some(later), stable),
            ("b", Some(earlier), false),
            ("c", None, false),
        ] {
            let copy = dir.path().join(name);
            copy_file(&source, &copy, settled).unwrap();
            assert_eq!(std::fs::read(&copy).unwrap(), b"a tool");
            assert_eq!(bytes_origin(&copy).unwrap() == origin, recorded, "{name}");
        }
        copy_file(&source, &dir.path().join("a"), Some(earlier)).unwrap();
        assert_ne!(bytes_origin(&dir.path().join("a")).unwrap(), origin);
        // Through a folder copy too.
        let tree = dir.path().join("tree");
        std::fs::create_dir(dir.path().join("folder")).unwrap();
        let inner = dir.path().join("folder/tool");
        std::fs::copy(&source, &inner).unwrap();
        let inner_origin = (inner.clone(), FileId::of(&std::fs::metadata(&inner).unwrap()));
        copy_tree(&dir.path().join("folder"), &tree, Some(later)).unwrap();
        assert_eq!(bytes_origin(&tree.join("tool")).unwrap() == inner_origin, stable);
    }

    /// Copies never read or write through a link: a link where a file or
    /// folder would be written is refused (nothing lands outside), and a
    /// source that is a link, or a FIFO, is not read.
    #[test]
    fn copies_refuse_links_in_the_way_and_as_sources() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let folder = dir.path().join("folder");
        std::fs::create_dir_all(folder.join("d")).unwrap();
        std::fs::write(folder.join("d/x"), b"x").unwrap();
        std::fs::write(folder.join("f"), b"f").unwrap();
        for (name, link, to) in [("one", "d", outside.clone()), ("two", "f", outside.join("f"))] {
            let tree = dir.path().join(name);
            std::fs::create_dir(&tree).unwrap();
            std::os::unix::fs::symlink(to, tree.join(link)).unwrap();
            let error = copy_tree(&folder, &tree, None).unwrap_err();
            assert!(
                error.to_string().contains("a symbolic link is in the way"),
                "{error}"
            );
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(folder.join("f"), &link).unwrap();
        assert!(copy_file(&link, &dir.path().join("copy"), None).is_err());
        assert!(!dir.path().join("copy").exists());
        // A FIFO is refused at once, not waited on.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let error = copy_file(&fifo, &dir.path().join("copy"), None).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    /// The context is the folder itself unless init.sh runs; a Kubefile
    /// that is a link is not taken.
    #[test]
    fn the_context_is_copied_only_for_init_sh() {
        let dir = tempfile::tempdir().unwrap();
        let version = dir.path().join("demo/1.0");
        std::fs::create_dir_all(&version).unwrap();
        std::fs::write(version.join("Kubefile"), "FROM scratch\nCOPY . .\n").unwrap();
        let build = AppBuild::of_folder(&version, BTreeMap::new(), false, false).unwrap();
        let staged = stage(&build, Arch::Amd64).unwrap();
        assert!(staged.in_place() && staged.context == version && staged.init_log.is_none());
        std::fs::write(version.join("init.sh"), "echo \"$1\" > made.txt\n").unwrap();
        let staged = stage(&build, Arch::Arm64).unwrap();
        assert!(!staged.in_place());
        assert_eq!(
            std::fs::read_to_string(staged.context.join("made.txt")).unwrap(),
            "arm64\n"
        );
        assert!(!version.join("made.txt").exists());
        let skipping = AppBuild::of_folder(&version, BTreeMap::new(), true, false).unwrap();
        assert!(stage(&skipping, Arch::Amd64).unwrap().in_place());
        assert!(!stage_copy(&skipping, Arch::Amd64).unwrap().in_place());
        std::fs::rename(version.join("Kubefile"), dir.path().join("Kubefile")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("Kubefile"), version.join("Kubefile")).unwrap();
        assert!(build_file(&version).is_none());
    }

    #[test]
    fn scratch_budgets_count_entries_and_bytes_without_following_links() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        std::fs::write(root.path().join("a/b/f"), [0u8; 10]).unwrap();
        std::os::unix::fs::symlink("/", root.path().join("root")).unwrap();
        assert!(check_budget(root.path(), 10, 4).is_ok());
        let error = check_budget(root.path(), 9, 4).unwrap_err().to_string();
        assert!(error.contains("copies, 9 bytes"), "{error}");
        let error = check_budget(root.path(), 10, 3).unwrap_err().to_string();
        assert!(error.contains("copies, 3 entries"), "{error}");
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(inside_text("/manifests/"), Some("manifests".into()));
        assert_eq!(inside_text("."), Some(String::new()));
        assert_eq!(inside_text("a/../../etc"), None);
        assert!(matches!(inside("a/../../etc"), Err(PathError::ClimbsOut { .. })));
        assert_eq!(inside("/a//./b/").unwrap().unwrap().as_str(), "a/b");
    }

    #[test]
    fn list_names_every_version_and_arch_build_arch_allows() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["web/1.0.0", "web/latest", "arm/2.0", "skipped/1.0"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("arm/2.0/build_arch"), "arm64\n").unwrap();
        std::fs::write(root.path().join("web/not-a-version"), "").unwrap();
        let tags: Vec<String> = list(root.path(), &[])
            .unwrap()
            .into_iter()
            .map(|e| e.tag)
            .collect();
        assert_eq!(
            tags,
            [
                "arm:2.0-arm64",
                "skipped:1.0-amd64",
                "skipped:1.0-arm64",
                "web:1.0.0-amd64",
                "web:1.0.0-arm64",
                "web:latest-amd64",
                "web:latest-arm64"
            ]
        );
        let only = list(root.path(), &["arm".to_string()]).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(
            (only[0].name.as_str(), only[0].version.as_str(), only[0].arch),
            ("arm", "2.0", Arch::Arm64)
        );
        std::fs::write(root.path().join("arm/2.0/build_arch"), "sparc\n").unwrap();
        assert!(crate::error::Fault::is_bad_input(
            &list(root.path(), &[]).unwrap_err()
        ));
        assert!(!crate::error::Fault::is_bad_input(
            &list(&root.path().join("none"), &[]).unwrap_err()
        ));
    }

    #[test]
    fn of_folder_names_the_app_by_its_folders() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("web-demo/1.0.0");
        std::fs::create_dir_all(&dir).unwrap();
        let build = AppBuild::of_folder(&dir, BTreeMap::new(), true, false).unwrap();
        assert_eq!(
            (build.name.as_str(), build.version.as_str()),
            ("web-demo", "1.0.0")
        );
        let missing =
            AppBuild::of_folder(&root.path().join("nope"), BTreeMap::new(), true, false).unwrap_err();
        assert!(missing.to_string().ends_with("nope is not a folder"));
        assert!(crate::error::Fault::is_bad_input(&missing));
    }

    #[test]
    fn beneath_refuses_links_on_the_way() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("ext")).unwrap();
        assert_eq!(
            beneath(root.path(), "/real/x", true).unwrap(),
            root.path().join("real/x")
        );
        assert_eq!(beneath(root.path(), ".", true).unwrap(), root.path());
        let error = beneath(root.path(), "ext/passwd", false).unwrap_err();
        assert_eq!(error.to_string(), "`ext` is a symbolic link; it is not followed");
        // The last part is refused only when asked.
        assert!(beneath(root.path(), "ext", false).is_ok());
        assert!(beneath(root.path(), "ext", true).is_err());
        assert_eq!(
            beneath(root.path(), "../x", true).unwrap_err().to_string(),
            "`../x` climbs out"
        );
    }
}
