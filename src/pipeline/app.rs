//! `matrix app build` and `matrix config build`: an application folder
//! becomes a recipe per arch (`app::prepare` runs init.sh and the
//! Kubefile), written by the same writer as rootfs cells, tagged
//! `<version>-<arch>` and joined into the `<version>` index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::image::Descriptor;
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use super::publish::{Placement, publish};
use super::save::{ImageSaver, ImageSource, SaveError, SavePlatforms};
use super::write::{LayerSlots, WriteError, WriteOptions, write_recipe};
use crate::app::{AppBuild, AppError, AppKind, AppTree, arches_of, folder, prepare};
use crate::axis::Arch;
use crate::context::Context;
use crate::fetch::{Cache, FetchError, FetchOptions, Fetcher, Taken, take_from_layers};
use crate::oci::{Compression, Store, StoreError};
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
    /// How `COPY URL` sources are fetched (cache, mirrors, `--offline`).
    pub fetch: FetchOptions,
    /// Layer compression.
    pub compression: Compression,
    /// Timestamp.
    pub epoch: u64,
    /// Where saved images (and FROM / COPY --from images) come from.
    pub images: ImageSource<'a>,
    /// Which platforms of each listed image `registry/` holds.
    pub save_platforms: SavePlatforms,
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
    Write(#[from] WriteError),
    /// Pulling a `COPY --from` image failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// A `COPY URL` could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
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
    /// The version does not make valid tags.
    #[error("version {version}: {source}")]
    Tag {
        /// The version.
        version: String,
        /// Why its tags are invalid.
        #[source]
        source: crate::tag::TagError,
    },
    /// The image just written could not be read back (`app inspect`).
    #[error("reading {reference} back: {source}")]
    Inspect {
        /// The image.
        reference: String,
        /// Why.
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
    /// A COPY destination leaves the image tree or passes a link.
    #[error("{what}: {source}")]
    Path {
        /// The COPY (URL redacted).
        what: String,
        /// Why.
        #[source]
        source: crate::app::PathError,
    },
    /// `COPY --from` without image pulls.
    #[error("COPY --from={image}: needs image pulls; not with --skip-images")]
    NeedsPulls {
        /// The image.
        image: String,
    },
    /// `COPY --from` names nothing the image holds.
    #[error("COPY --from={image} {path}: the image has no such file or folder")]
    NoSuchPath {
        /// The image.
        image: String,
        /// The path asked for.
        path: String,
    },
    /// Reading or writing a COPY source failed.
    #[error("{what}: {source}")]
    Io {
        /// The COPY (URL redacted).
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
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

/// Builds an application or config image for its arches (in parallel, the
/// same digests as one after the other), then publishes the per-arch tags
/// and the index through the one publisher.
pub fn app_build(request: AppRequest<'_>, reporter: &dyn Reporter) -> Result<AppReport, AppBuildError> {
    let dir = folder(&request.root, request.kind, &request.name, &request.version)?;
    let arches = arches_of(&dir, &request.arches)?;
    if arches.is_empty() {
        return Err(AppBuildError::NoArch {
            name: request.name.clone(),
            asked: request.arches.clone(),
        });
    }
    let fetcher = Fetcher::new(request.fetch.clone())?;
    let store = Store::open(&request.out)?;
    let saver = request
        .images
        .saver(fetcher.cache(), reporter)
        .map(|saver| saver.with_platforms(request.save_platforms));
    let options = WriteOptions {
        store: &store,
        compression: request.compression,
        epoch: request.epoch,
        saver: saver.as_ref().map(|s| s as &dyn ImageSaver),
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
    let inputs = ArchInputs {
        build: &build,
        arches: &arches,
        options: &options,
        slots: &slots,
        fetcher: &fetcher,
        reporter,
    };
    let results: Vec<Result<(Placement, AppImage, Descriptor), AppBuildError>> =
        arches.par_iter().map(|arch| build_arch(&inputs, *arch)).collect();
    let mut built = Vec::new();
    let mut written = Vec::new();
    let mut failed = None;
    for result in results {
        match result {
            Ok((placement, image, descriptor)) => {
                written.push((placement, descriptor));
                built.push(image);
            }
            Err(error) => failed = failed.or(Some(error)),
        }
    }
    // The arches that were written are tagged even when another failed
    // (the index waits for every arch).
    let indexes = publish(&store, &written)?;
    if let Some(error) = failed {
        return Err(error);
    }
    let index_tag = request
        .version
        .parse::<Tag>()
        .map_err(|e| tag_error(&request.version, e))?;
    Ok(AppReport {
        image: request.name.clone(),
        version: request.version.clone(),
        folder: dir.display().to_string(),
        arches: built,
        index: indexes
            .get(&(request.name.clone(), index_tag))
            .map(|index| index.digest().to_string()),
        skipped_arches: request
            .arches
            .iter()
            .copied()
            .filter(|a| !arches.contains(a))
            .collect(),
    })
}

/// What every arch of one app build shares.
struct ArchInputs<'a> {
    build: &'a AppBuild,
    arches: &'a [Arch],
    options: &'a WriteOptions<'a>,
    slots: &'a LayerSlots,
    fetcher: &'a Fetcher,
    reporter: &'a dyn Reporter,
}

fn tag_error(version: &str, source: crate::tag::TagError) -> AppBuildError {
    AppBuildError::Tag {
        version: version.to_string(),
        source,
    }
}

/// One arch: prepare the tree (init.sh, the Kubefile), bring in its
/// sources, and write it as a recipe.
fn build_arch(
    inputs: &ArchInputs<'_>,
    arch: Arch,
) -> Result<(Placement, AppImage, Descriptor), AppBuildError> {
    let build = inputs.build;
    let placement = Placement::of_app(&build.name, &build.version, arch, inputs.arches)
        .map_err(|e| tag_error(&build.version, e))?;
    let task = format!("{}:{}", build.name, placement.tags.tag);
    inputs.reporter.report(Event::Started {
        task: &task,
        total: None,
    });
    let result = write_arch(inputs, arch, &placement);
    inputs.reporter.report(Event::Finished {
        task: &task,
        outcome: match &result {
            Ok((image, _)) if image.unchanged => Outcome::Unchanged,
            Ok(_) => Outcome::Built,
            Err(_) => Outcome::Failed,
        },
    });
    let (image, descriptor) = result?;
    Ok((placement, image, descriptor))
}

fn write_arch(
    inputs: &ArchInputs<'_>,
    arch: Arch,
    placement: &Placement,
) -> Result<(AppImage, Descriptor), AppBuildError> {
    let build = inputs.build;
    let mut prepared = prepare(build, arch)?;
    let sources = fill_sources(&mut prepared, arch, inputs)?;
    let attested = crate::attest::Inputs {
        sources,
        charts: crate::app::chart_facts(prepared.tree.path())?,
        parameters: [
            ("app".to_string(), format!("{}:{}", build.name, build.version)),
            ("kind".to_string(), format!("{:?}", build.kind).to_lowercase()),
        ]
        .into(),
        // The folder's Kubefile as written (init.sh may change the one
        // built; its output is in the image).
        materials: crate::app::build_file(&build.folder)
            .and_then(|(name, path)| {
                let text = crate::fsutil::read_text_capped(&path, crate::kubefile::MAX_BYTES as u64).ok()?;
                Some((name, crate::digest::Sha256::of(text.as_bytes())))
            })
            .into_iter()
            .collect(),
        // The writer adds the base image with its digest.
        ..crate::attest::Inputs::default()
    };
    let mut context = Context::new();
    context
        .add_dir("app", prepared.tree.path(), &[])
        .map_err(WriteError::from)?;
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
    let recipe = Recipe {
        image: build.name.clone(),
        tag: placement.tags.tag.to_string(),
        platform: arch,
        context,
        layers: app_layers(),
        config: prepared.config.clone(),
        images: images.clone(),
        base: prepared.base.clone(),
        inputs: attested,
    };
    let written = write_recipe(recipe, inputs.options, inputs.slots)?;
    inputs.options.store.add_referrers(&written.record.referrers)?;
    let descriptor = written.record.descriptor().clone();
    Ok((
        AppImage {
            arch,
            tag: placement.tags.tag.to_string(),
            digest: written.record.digest.to_string(),
            images: images.len(),
            unchanged: written.unchanged,
            init_output: prepared.init_log.clone(),
        },
        descriptor,
    ))
}

/// Brings in what the Kubefile takes from elsewhere: URLs (through the
/// fetcher: mirrors, retries, `--offline`, the verified cache) and
/// `COPY --from` images (their layers, verified, whiteouts applied).
/// The downloads, for the SBOM: each URL (no userinfo, query or fragment:
/// they may hold secrets) with the verified digest of what was fetched.
fn fill_sources(
    prepared: &mut AppTree,
    arch: Arch,
    inputs: &ArchInputs<'_>,
) -> Result<Vec<crate::attest::Source>, AppBuildError> {
    let root = prepared.tree.path().to_path_buf();
    let mut sources = Vec::new();
    for (url, dest, checksum) in std::mem::take(&mut prepared.downloads) {
        let fetched = inputs
            .fetcher
            .fetch_url(&url, arch, checksum.as_ref(), inputs.reporter)?;
        // Shown redacted (SecretUrl's Display), then stripped further.
        let what = url.to_string();
        let shown = public_url(&what);
        sources.push(crate::attest::Source {
            component: shown
                .rsplit('/')
                .next()
                .filter(|f| !f.is_empty())
                .unwrap_or("download")
                .to_string(),
            version: "NOASSERTION".into(),
            url: shown,
            sha256: fetched.digest.clone(),
            license: None,
        });
        let target = crate::app::beneath(&root, &dest, true).map_err(|source| AppBuildError::Path {
            what: what.clone(),
            source,
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(&what))?;
        }
        std::fs::copy(&fetched.path, &target).map_err(io_error(&what))?;
    }
    for (image, source, dest) in std::mem::take(&mut prepared.copy_from) {
        let saver = inputs
            .options
            .saver
            .ok_or_else(|| AppBuildError::NeedsPulls { image: image.clone() })?;
        let base = saver.base(&image, arch)?;
        let what = format!("COPY --from={image} {source}");
        let into = crate::app::beneath(&root, &dest, true).map_err(|source| AppBuildError::Path {
            what: what.clone(),
            source,
        })?;
        let layers: Vec<(PathBuf, Compression)> = base
            .layers
            .iter()
            .map(|layer| (layer.path.clone(), layer.desc.compression))
            .collect();
        let copied =
            copy_from_layers(&layers, &source, &into, inputs.fetcher.cache()).map_err(io_error(&what))?;
        if copied == 0 {
            return Err(AppBuildError::NoSuchPath { image, path: source });
        }
    }
    Ok(sources)
}

/// A URL as an SBOM may show it: no userinfo (given redacted or not),
/// query or fragment.
fn public_url(url: &str) -> String {
    let redacted = crate::net::redact(url);
    let plain = redacted.replacen("://***@", "://", 1);
    let end = plain.find(['?', '#']).unwrap_or(plain.len());
    plain[..end].to_string()
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> AppBuildError + '_ {
    move |source| AppBuildError::Io {
        what: what.to_string(),
        source,
    }
}

/// Copies the files an image's layers hold at `source` (a file or a
/// folder; whiteouts honoured, through the one layer reader) into `dest`;
/// how many it wrote. Paths that would leave `dest` are refused.
fn copy_from_layers(
    layers: &[(PathBuf, Compression)],
    source: &str,
    dest: &Path,
    cache: &Cache,
) -> std::io::Result<usize> {
    let prefix = format!("{source}/");
    let wanted = |path: &str| source.is_empty() || path == source || path.starts_with(&prefix);
    let taken = take_from_layers(layers, wanted, cache)?;
    let mut written = 0;
    for (path, taken) in &taken {
        let Taken::File { path: blob, .. } = taken else {
            continue;
        };
        let rest = if path == source {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path.strip_prefix(&prefix).unwrap_or(path)
        };
        let target = crate::app::beneath(dest, rest, true).map_err(std::io::Error::other)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&target)?;
        std::io::copy(&mut std::fs::File::open(blob)?, &mut out)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sbom_urls_keep_no_secrets() {
        assert_eq!(
            super::public_url("https://user:pw@host.example/a/tool.txt?token=s3cret#x"),
            "https://host.example/a/tool.txt"
        );
        assert_eq!(
            super::public_url("https://host.example/a/tool.txt"),
            "https://host.example/a/tool.txt"
        );
    }
}
