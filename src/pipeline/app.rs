//! `matrix app build` and `matrix config build`: an application folder
//! becomes a recipe per arch (`app::prepare` runs init.sh and the
//! Kubefile), written by the same writer as rootfs cells, tagged
//! `<version>-<arch>` and joined into the `<version>` index.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use super::build::{BuildOptions, ImageSaver, ImageSource, LayerSlots, write_recipe};
use super::fetch::FetchSet;
use crate::app::{AppBuild, AppError, AppKind, AppTree, arches_of, folder, prepare};
use crate::axis::Arch;
use crate::context::Context;
use crate::digest::{HashingWriter, Sha256};
use crate::fetch::Cache;
use crate::oci::{Compression, IndexEntry, RefName, Store, StoreError, build_index};
use crate::progress::{Event, Outcome, Reporter};
use crate::recipe::{LayerGroup, LayerPolicy, Recipe, Takes};
use crate::tag::Tag;

/// What to build.
pub struct AppRequest<'a> {
    /// `applications/` or `config/`.
    pub root: PathBuf,
    /// Application or config.
    pub kind: AppKind,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Arches asked for (narrowed by `build_arch`).
    pub arches: Vec<Arch>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--skip-init`.
    pub skip_init: bool,
    /// `--no-run`.
    pub no_run: bool,
    /// Time limit of init.sh and each RUN.
    pub limit: Duration,
    /// The OCI layout.
    pub out: PathBuf,
    /// The download cache.
    pub cache: PathBuf,
    /// Layer compression.
    pub compression: Compression,
    /// Timestamp.
    pub epoch: u64,
    /// Where saved images (and FROM / COPY --from images) come from.
    pub images: ImageSource<'a>,
}

/// One arch's image.
#[derive(Debug, Clone, Serialize)]
pub struct AppImage {
    /// The arch.
    pub arch: Arch,
    /// `<version>-<arch>`.
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// Images saved into registry/.
    pub images: usize,
    /// Whether the store already had it.
    pub unchanged: bool,
    /// What `init.sh` printed, if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_output: Option<String>,
}

/// What `app build` did.
#[derive(Debug, Clone, Serialize)]
pub struct AppReport {
    /// The image name.
    pub image: String,
    /// The index tag.
    pub version: String,
    /// The folder built.
    pub folder: String,
    /// Per arch.
    pub arches: Vec<AppImage>,
    /// The index digest.
    pub index: Option<String>,
    /// Arches left out by `build_arch`.
    pub skipped_arches: Vec<Arch>,
}

/// Why an app build failed.
#[derive(Debug, Error)]
pub enum AppBuildError {
    /// The application is wrong or its steps failed.
    #[error(transparent)]
    App(Box<AppError>),
    /// Writing the image failed.
    #[error(transparent)]
    Cell(#[from] super::build::CellError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `build_arch` leaves no arch.
    #[error("{name}: its build_arch file allows none of {asked:?}")]
    NoArch {
        /// The app.
        name: String,
        /// What was asked.
        asked: Vec<Arch>,
    },
    /// A COPY source could not be had.
    #[error("{what}: {message}")]
    Source {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
}

impl From<AppError> for AppBuildError {
    fn from(error: AppError) -> Self {
        AppBuildError::App(Box::new(error))
    }
}

/// The layers of an application image: saved images, its files, then
/// what its RUN instructions made.
fn app_layers() -> LayerPolicy {
    LayerPolicy {
        groups: vec![
            LayerGroup {
                name: "registry".into(),
                takes: vec![Takes::Registry],
            },
            LayerGroup {
                name: "app".into(),
                takes: vec![Takes::Contexts],
            },
            LayerGroup {
                name: "run".into(),
                takes: vec![Takes::Generated],
            },
        ],
    }
}

/// Builds an application or config image for its arches, and its index.
pub fn app_build(request: AppRequest<'_>, reporter: &dyn Reporter) -> Result<AppReport, AppBuildError> {
    let dir = folder(&request.root, request.kind, &request.name, &request.version)?;
    let arches = arches_of(&dir, &request.arches)?;
    if arches.is_empty() {
        return Err(AppBuildError::NoArch {
            name: request.name.clone(),
            asked: request.arches.clone(),
        });
    }
    let tag_of = |text: &str| {
        text.parse::<Tag>().map_err(|e| AppBuildError::Source {
            what: format!("tag {text}"),
            message: e.to_string(),
        })
    };
    let cache = Cache::open(&request.cache).map_err(|e| AppBuildError::Source {
        what: format!("the cache {}", request.cache.display()),
        message: e.to_string(),
    })?;
    let store = Store::open(&request.out)?;
    let saver = request.images.saver(&cache, reporter);
    let fetched = FetchSet::default();
    let options = BuildOptions {
        store: &store,
        cache: &cache,
        fetched: &fetched,
        compression: request.compression,
        epoch: request.epoch,
        jobs: 1,
        saver: saver.as_ref().map(|s| s as &dyn ImageSaver),
        plan: &[],
    };
    let slots = LayerSlots::default();
    let build = AppBuild {
        kind: request.kind,
        name: request.name.clone(),
        version: request.version.clone(),
        folder: dir.clone(),
        build_args: request.build_args.clone(),
        skip_init: request.skip_init,
        no_run: request.no_run,
        limit: request.limit,
    };
    let mut built = Vec::new();
    let mut entries = Vec::new();
    for arch in &arches {
        let task = format!("{}:{}-{arch}", request.name, request.version);
        reporter.report(Event::Started {
            task: &task,
            total: None,
        });
        let mut prepared = prepare(&build, *arch)?;
        fill_sources(&mut prepared, *arch, options.saver, &cache)?;
        let mut context = Context::new();
        context
            .add_dir("app", prepared.tree.path(), &[])
            .map_err(super::build::CellError::from)?;
        // What RUN made goes into a layer of its own.
        for path in &prepared.run_paths {
            if let Some(entry) = context.get(path).cloned() {
                context.replace(
                    path.clone(),
                    crate::context::Entry {
                        origin: crate::context::Origin::Generated("RUN"),
                        ..entry
                    },
                );
            }
        }
        let images: Vec<String> = prepared.scan.images.iter().map(|i| i.image.clone()).collect();
        let tag = format!("{}-{arch}", request.version);
        let recipe = Recipe {
            image: request.name.clone(),
            tag: tag.clone(),
            platform: *arch,
            context,
            layers: app_layers(),
            config: prepared.config.clone(),
            images: images.clone(),
            base: prepared.base.clone(),
        };
        let (record, unchanged, _) = write_recipe(recipe, &options, &slots)?;
        store.set_refs(vec![(
            RefName::new(&request.name, &tag_of(&tag)?),
            record.descriptor().clone(),
        )])?;
        entries.push(IndexEntry {
            descriptor: record.descriptor().clone(),
            arch: *arch,
        });
        reporter.report(Event::Finished {
            task: &task,
            outcome: if unchanged {
                Outcome::Unchanged
            } else {
                Outcome::Built
            },
        });
        built.push(AppImage {
            arch: *arch,
            tag,
            digest: record.descriptor().digest().to_string(),
            images: images.len(),
            unchanged,
            init_output: prepared.init_log.clone(),
        });
    }
    let index = build_index(&store, &entries)?;
    store.set_refs(vec![(
        RefName::new(&request.name, &tag_of(&request.version)?),
        index.clone(),
    )])?;
    Ok(AppReport {
        image: request.name.clone(),
        version: request.version.clone(),
        folder: dir.display().to_string(),
        arches: built,
        index: Some(index.digest().to_string()),
        skipped_arches: request
            .arches
            .iter()
            .copied()
            .filter(|a| !arches.contains(a))
            .collect(),
    })
}

/// Brings in what the Kubefile takes from elsewhere: URLs (downloaded into
/// the verified cache) and `COPY --from` images (their layers, verified).
fn fill_sources(
    prepared: &mut AppTree,
    arch: Arch,
    saver: Option<&dyn ImageSaver>,
    cache: &Cache,
) -> Result<(), AppBuildError> {
    let root = prepared.tree.path().to_path_buf();
    for (url, dest) in std::mem::take(&mut prepared.downloads) {
        let blob = download(url.as_str(), cache)?;
        let target = crate::app::beneath(&root, &dest, true).map_err(|error| AppBuildError::Source {
            what: crate::net::redact(&url),
            message: error.to_string(),
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| source_error(&url, e))?;
        }
        std::fs::copy(&blob, &target).map_err(|e| source_error(&url, e))?;
    }
    for (image, source, dest) in std::mem::take(&mut prepared.copy_from) {
        let saver = saver.ok_or_else(|| AppBuildError::Source {
            what: format!("COPY --from={image}"),
            message: "needs image pulls; not with --skip-images".into(),
        })?;
        let base = saver.base(&image, arch).map_err(super::build::CellError::from)?;
        let mut copied = 0usize;
        let into = crate::app::beneath(&root, &dest, true).map_err(|error| AppBuildError::Source {
            what: format!("COPY --from={image} {source}"),
            message: error.to_string(),
        })?;
        for layer in &base.layers {
            copied += extract_prefix(&layer.path, layer.desc.compression, &source, &into)
                .map_err(|e| source_error(&format!("{image}:{source}"), e))?;
        }
        if copied == 0 {
            return Err(AppBuildError::Source {
                what: format!("COPY --from={image} {source}"),
                message: "the image has no such file or folder".into(),
            });
        }
    }
    Ok(())
}

fn source_error(what: &str, error: std::io::Error) -> AppBuildError {
    AppBuildError::Source {
        what: what.to_string(),
        message: error.to_string(),
    }
}

/// Largest COPY download.
const MAX_DOWNLOAD: u64 = 2 << 30;

/// Downloads a URL into the cache once; later builds use the blob the URL
/// gave, if it still verifies.
fn download(url: &str, cache: &Cache) -> Result<PathBuf, AppBuildError> {
    if let Some(digest) = cache.digest_of_url(url)
        && let Some(path) = cache.verified(&digest)
    {
        return Ok(path);
    }
    let failed = |message: String| AppBuildError::Source {
        what: crate::net::redact(url),
        message,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
        return store_blob(file, cache).map_err(|e| failed(e.to_string()));
    }
    let client =
        crate::net::client(Duration::from_secs(600)).map_err(|e| failed(crate::net::plain_error(&e)))?;
    let reply = client
        .get(url)
        .send()
        .map_err(|e| failed(crate::net::plain_error(&e)))?;
    if !reply.status().is_success() {
        return Err(failed(format!("HTTP {}", reply.status().as_u16())));
    }
    let path = store_blob(reply.take(MAX_DOWNLOAD + 1), cache).map_err(|e| failed(e.to_string()))?;
    if let Some(digest) = std::fs::File::open(&path)
        .ok()
        .and_then(|f| Sha256::of_reader(f).ok())
        .map(|(d, _)| d)
    {
        let _ = cache.remember_url(url, &digest);
    }
    Ok(path)
}

fn store_blob(mut reader: impl Read, cache: &Cache) -> std::io::Result<PathBuf> {
    let mut temp = cache.temp_file()?;
    let mut writer = HashingWriter::new(temp.as_file_mut());
    let copied = std::io::copy(&mut reader, &mut writer)?;
    if copied > MAX_DOWNLOAD {
        return Err(std::io::Error::other(format!("more than {MAX_DOWNLOAD} bytes")));
    }
    let (_, (digest, _)) = writer.finish();
    match cache.verified(&digest) {
        Some(path) => Ok(path),
        None => cache.commit(temp, &digest),
    }
}

/// Extracts the files of a layer at `source` (a file or a folder) into
/// `dest`; how many it wrote. Paths that would leave `dest` are skipped.
fn extract_prefix(
    blob: &Path,
    compression: Compression,
    source: &str,
    dest: &Path,
) -> std::io::Result<usize> {
    let reader = compression.reader(std::fs::File::open(blob)?)?;
    let mut archive = tar::Archive::new(reader);
    let mut written = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        let rest = if path == source {
            entry
                .path()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else if let Some(rest) = path.strip_prefix(&format!("{source}/")) {
            rest.to_string()
        } else {
            continue;
        };
        if rest.is_empty() || rest.split('/').any(|p| p == "..") || !entry.header().entry_type().is_file() {
            continue;
        }
        let target = crate::app::beneath(dest, &rest, true).map_err(std::io::Error::other)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&target)?;
        std::io::copy(&mut entry, &mut out)?;
        written += 1;
    }
    Ok(written)
}
