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
use std::time::Duration;

use thiserror::Error;

pub use images::{ImageScan, ListedImage, RenderedChart, image_list, render_charts};
pub use inspect::{KubefileConfig, kubefile_config};

use crate::axis::Arch;
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
    /// A `RUN` instruction failed or was refused.
    #[error("{file}:{line}: RUN {status}{}", if last.is_empty() { String::new() } else { format!("; its last lines:\n{last}") })]
    Run {
        /// The Kubefile.
        file: String,
        /// Its line.
        line: usize,
        /// How it ended (or why it did not run).
        status: String,
        /// Its last lines of output.
        last: String,
    },
    /// A `COPY` could not be done.
    #[error("{file}:{line}: COPY {source_path}: {message}")]
    Copy {
        /// The Kubefile.
        file: String,
        /// Its line.
        line: usize,
        /// The source.
        source_path: String,
        /// What is wrong.
        message: String,
    },
    /// A chart does not load or render.
    #[error("{chart}: {message}")]
    Chart {
        /// The chart.
        chart: String,
        /// Why.
        message: String,
    },
    /// A file is malformed or too large.
    #[error("{file}: {message}")]
    Bad {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
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

    /// Bad input (exit 2) rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            AppError::NotFound { .. }
                | AppError::Kubefile(_)
                | AppError::Bad { .. }
                | AppError::Copy { .. }
                | AppError::Chart { .. }
        ) || matches!(self, AppError::Run { status, .. } if status.contains("--no-run"))
    }
}

/// Application images or config images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// `applications/`.
    App,
    /// `config/`.
    Config,
}

impl AppKind {
    fn word(self) -> &'static str {
        match self {
            AppKind::App => "application",
            AppKind::Config => "config",
        }
    }
}

/// The version folder of an application (`latest/` when the version has
/// none, as labring's pipeline does); config images have no fallback.
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
    if kind == AppKind::App && latest.is_dir() {
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

/// Copies a folder tree (files, folders, links as links), refusing nothing
/// but special files; `into` must not exist.
pub fn copy_tree(from: &Path, into: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(into).map_err(|e| AppError::io(format!("creating {}", into.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| AppError::io(format!("reading {}", from.display()), e))?;
    for entry in entries.filter_map(Result::ok) {
        let source = entry.path();
        let target = into.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&source)
            .map_err(|e| AppError::io(format!("reading {}", source.display()), e))?;
        if meta.is_dir() {
            copy_tree(&source, &target)?;
        } else if meta.is_file() {
            std::fs::copy(&source, &target)
                .map_err(|e| AppError::io(format!("copying {}", source.display()), e))?;
        } else if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source)
                .map_err(|e| AppError::io(format!("reading {}", source.display()), e))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| AppError::io(format!("linking {}", target.display()), e))?;
        }
    }
    Ok(())
}

/// `root/relative`, refusing a path that climbs out or passes through a
/// symbolic link (the last part too when `through_last`), so a read or a
/// write there stays inside `root` whatever links earlier steps left.
pub fn beneath(root: &Path, relative: &str, through_last: bool) -> Result<PathBuf, String> {
    let parts: Vec<&str> = relative
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut path = root.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        if *part == ".." {
            return Err(format!("`{relative}` climbs out"));
        }
        path.push(part);
        let last = index + 1 == parts.len();
        if (!last || through_last)
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(format!(
                "`{}` is a symbolic link; it is not followed",
                parts[..=index].join("/")
            ));
        }
    }
    Ok(path)
}

/// The last `n` lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command in `dir` with a time limit (coreutils `timeout`, which
/// also kills what it started); its combined output and how it ended.
fn run_bounded(
    dir: &Path,
    argv: &[String],
    env: &BTreeMap<String, String>,
    limit: Duration,
) -> Result<(bool, String, String), AppError> {
    let output = Command::new("timeout")
        .arg("--kill-after=10")
        .arg(limit.as_secs().max(1).to_string())
        .args(argv)
        .current_dir(dir)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| AppError::io(format!("running {}", argv.join(" ")), e))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let status = match output.status.code() {
        Some(0) => "succeeded".to_string(),
        Some(124) | Some(137) => format!("timed out after {} s", limit.as_secs()),
        Some(code) => format!("failed with exit code {code}"),
        None => "was killed".to_string(),
    };
    Ok((output.status.success(), status, text))
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
    /// Files to fetch from URLs: (url, dest path in the tree).
    pub downloads: Vec<(String, String)>,
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

/// The Kubefile of a folder: `Dockerfile` when it is not empty, else `Kubefile`.
fn build_file(dir: &Path) -> Option<(String, PathBuf)> {
    let docker = dir.join("Dockerfile");
    if std::fs::metadata(&docker).is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Some(("Dockerfile".into(), docker));
    }
    let kube = dir.join("Kubefile");
    kube.is_file().then(|| ("Kubefile".into(), kube))
}

/// A path inside the tree (no `..`, leading `/` dropped).
fn inside(path: &str) -> Option<String> {
    let trimmed = path.trim_start_matches('/');
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The build context of one arch: the folder copied to a scratch place
/// and `init.sh` run there; the scratch folder (removed on drop), the
/// context path and init.sh's output.
pub fn stage(build: &AppBuild, arch: Arch) -> Result<(tempfile::TempDir, PathBuf, Option<String>), AppError> {
    let app = format!("{} {}", build.name, build.version);
    let scratch = tempfile::tempdir().map_err(|e| AppError::io("creating a scratch folder", e))?;
    let context = scratch.path().join("context");
    copy_tree(&build.folder, &context)?;
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
    Ok((scratch, context, init_log))
}

/// The image list of one arch's build context (after init.sh), as
/// `sealos build` computes it.
pub fn scan_folder(build: &AppBuild, arch: Arch) -> Result<ImageScan, AppError> {
    // Without init.sh nothing changes the folder: read it where it is.
    if build.skip_init {
        return image_list(&build.folder);
    }
    let (_scratch, context, _) = stage(build, arch)?;
    image_list(&context)
}

/// Every chart of one arch's build context (after init.sh) rendered as
/// `sealos build` renders it (`matrix app template`).
pub fn template_folder(build: &AppBuild, arch: Arch) -> Result<Vec<RenderedChart>, AppError> {
    if build.skip_init {
        return render_charts(&build.folder);
    }
    let (_scratch, context, _) = stage(build, arch)?;
    render_charts(&context)
}

/// Runs `init.sh` and the Kubefile for one arch.
pub fn prepare(build: &AppBuild, arch: Arch) -> Result<AppTree, AppError> {
    let (_scratch, context, init_log) = stage(build, arch)?;
    let Some((file_name, path)) = build_file(&context) else {
        return Err(AppError::Bad {
            file: build.folder.display().to_string(),
            message: "no Kubefile or Dockerfile (after init.sh)".into(),
        });
    };
    let label = format!("{}/{file_name}", build.folder.display());
    let text = std::fs::read_to_string(&path).map_err(|e| AppError::io(format!("reading {label}"), e))?;
    let kubefile = crate::kubefile::parse(&label, &text, &build.build_args)?;
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
            Instruction::Copy { sources, dest, from } => {
                let copy_error = |source: &str, message: String| AppError::Copy {
                    file: label.clone(),
                    line: *line,
                    source_path: source.to_string(),
                    message,
                };
                let dest_path = inside(dest)
                    .ok_or_else(|| copy_error(dest, "the destination leaves the image".into()))?;
                let into_dir = dest.ends_with('/') || sources.len() > 1 || dest_path.is_empty();
                if let Some(image) = from {
                    for source in sources {
                        let path = inside(source)
                            .ok_or_else(|| copy_error(source, "the path leaves the image".into()))?;
                        copy_from.push((image.clone(), path, dest_path.clone()));
                    }
                    continue;
                }
                for source in sources {
                    if source.starts_with("http://") || source.starts_with("https://") {
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
                        downloads.push((source.clone(), target));
                        continue;
                    }
                    copy_source(&context, tree.path(), source, &dest_path, into_dir)
                        .map_err(|m| copy_error(source, m))?;
                }
            }
            Instruction::Run(form) => {
                if build.no_run {
                    return Err(AppError::Run {
                        file: label.clone(),
                        line: *line,
                        status: "refused: --no-run forbids build-time commands".into(),
                        last: String::new(),
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
        init_log,
        copy_from,
        downloads,
        run_paths,
    })
}

/// Copies one COPY source (a path or a wildcard pattern, relative to the
/// context) into the tree, as buildah does: a folder's contents, files by
/// name into a folder destination.
fn copy_source(context: &Path, tree: &Path, source: &str, dest: &str, into_dir: bool) -> Result<(), String> {
    let pattern = inside(source).ok_or("the source leaves the build context")?;
    let wildcard = pattern.contains(['*', '?', '[']);
    let matches: Vec<String> = if wildcard {
        let mut found = Vec::new();
        collect(context, "", &mut found).map_err(|e| e.to_string())?;
        found
            .into_iter()
            .filter(|p| crate::gotmpl::glob_match(&pattern, p))
            .collect()
    } else {
        vec![pattern.clone()]
    };
    if matches.is_empty() {
        return Err("no file matches".into());
    }
    for relative in &matches {
        let from = beneath(context, relative, false)?;
        let meta = std::fs::symlink_metadata(&from)
            .map_err(|_| "no such file or folder in the build context".to_string())?;
        let target_dir = beneath(tree, dest, true)?;
        if meta.is_dir() {
            copy_tree(&from, &target_dir).map_err(|e| e.to_string())?;
        } else {
            let name = from.file_name().map(|n| n.to_owned()).unwrap_or_default();
            let target = if into_dir || wildcard || target_dir.is_dir() {
                target_dir.join(name)
            } else {
                target_dir.clone()
            };
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err("a symbolic link is in the way; it is not written through".into());
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            if meta.file_type().is_symlink() {
                let link = std::fs::read_link(&from).map_err(|e| e.to_string())?;
                std::os::unix::fs::symlink(link, &target).map_err(|e| e.to_string())?;
            } else {
                std::fs::copy(&from, &target).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// Every path (files and folders) below `dir`, relative.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if std::fs::symlink_metadata(entry.path())?.is_dir() {
            out.push(path.clone());
            collect(&entry.path(), &format!("{path}/"), out)?;
        } else {
            out.push(path);
        }
        if out.len() > 100_000 {
            return Err(std::io::Error::other("more than 100000 files"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(inside("/manifests/"), Some("manifests".into()));
        assert_eq!(inside("."), Some(String::new()));
        assert_eq!(inside("a/../../etc"), None);
    }
}
