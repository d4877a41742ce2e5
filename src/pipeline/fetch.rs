//! Fetching for the pipeline: the artifacts a selection needs (each URL
//! once), fetched through the verified cache into a [`FetchSet`] that is
//! looked up by artifact; pinning new digests; and mirror trees (real
//! downloads or marked stand-ins) for air-gapped machines.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::config::{Matrix, Placement};
use crate::digest::Sha256;
use crate::fetch::{
    Artifact, FetchError, FetchOptions, Fetched, Fetcher, Outcome, SUMS_FILE, artifacts_for, format_sums,
    image_parts_for, parse_sums, tree_path, write_stand_in,
};
use crate::fsutil::{describe_io, write_atomic};
use crate::plan::PlannedCell;
use crate::progress::Reporter;
use crate::render::{IMAGE_LIST_BYTES, RenderError, RenderedCell};

/// Every artifact the cells need, once per URL, in a stable order.
pub fn artifacts_of(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<Artifact>, FetchError> {
    let mut by_url = BTreeMap::new();
    for cell in cells {
        for artifact in artifacts_for(matrix, &cell.cell)? {
            by_url.entry(artifact.url.clone()).or_insert(artifact);
        }
    }
    Ok(by_url.into_values().collect())
}

/// What one fetch run got: every artifact fetched or failed, each once.
#[derive(Debug, Default)]
pub struct FetchSet {
    fetched: Vec<Fetched>,
    failures: Vec<(Artifact, FetchError)>,
    /// Upstream URL -> position, the identity of an artifact's bytes.
    index: HashMap<String, Result<usize, usize>>,
}

impl FetchSet {
    /// The verified artifact, if it was fetched.
    pub fn get(&self, artifact: &Artifact) -> Option<&Fetched> {
        match self.index.get(&artifact.url)? {
            Ok(at) => self.fetched.get(*at),
            Err(_) => None,
        }
    }

    /// Why the artifact was not fetched, if it was tried.
    pub fn failure(&self, artifact: &Artifact) -> Option<&FetchError> {
        match self.index.get(&artifact.url)? {
            Err(at) => self.failures.get(*at).map(|(_, error)| error),
            Ok(_) => None,
        }
    }

    /// The artifacts fetched or found in the cache.
    pub fn fetched(&self) -> &[Fetched] {
        &self.fetched
    }

    /// The artifacts that failed, with why.
    pub fn failures(&self) -> &[(Artifact, FetchError)] {
        &self.failures
    }
}

/// Fetches `artifacts` with bounded parallelism; failures are kept per
/// artifact, not raised, so the cells that do not need them go on.
pub fn fetch_set(
    matrix: &Matrix,
    options: FetchOptions,
    artifacts: &[Artifact],
    reporter: &dyn Reporter,
) -> Result<FetchSet, FetchError> {
    let fetcher = Fetcher::new(options)?;
    let pins = |artifact: &Artifact| matrix.lock.pin(&artifact.key()).cloned();
    let mut set = FetchSet::default();
    for (artifact, result) in artifacts
        .iter()
        .zip(fetcher.fetch_all(artifacts, &pins, reporter))
    {
        let entry = match result {
            Ok(fetched) => {
                set.fetched.push(fetched);
                Ok(set.fetched.len() - 1)
            }
            Err(error) => {
                set.failures.push((artifact.clone(), error));
                Err(set.failures.len() - 1)
            }
        };
        set.index.insert(artifact.url.clone(), entry);
    }
    Ok(set)
}

/// The `matrix fetch --json` report.
#[derive(Debug, Serialize)]
pub struct FetchReport<'a> {
    /// Artifacts downloaded now.
    pub fetched: usize,
    /// Artifacts found in the cache (and verified).
    pub cached: usize,
    /// Artifacts that failed.
    pub failed: usize,
    /// Bytes downloaded now.
    pub bytes_fetched: u64,
    /// Every artifact that is in the cache now.
    pub artifacts: &'a [Fetched],
    /// Why each failure failed.
    pub failures: Vec<String>,
}

impl FetchSet {
    /// The report of this run.
    pub fn report(&self) -> FetchReport<'_> {
        let now = |f: &&Fetched| f.outcome == Outcome::Fetched;
        FetchReport {
            fetched: self.fetched.iter().filter(now).count(),
            cached: self
                .fetched
                .iter()
                .filter(|f| f.outcome == Outcome::Cached)
                .count(),
            failed: self.failures.len(),
            bytes_fetched: self.fetched.iter().filter(now).map(|f| f.size).sum(),
            artifacts: &self.fetched,
            failures: self.failures.iter().map(|(_, error)| error.to_string()).collect(),
        }
    }

    /// Digests of fetched artifacts the lock does not pin yet, by lock key.
    pub fn unpinned(&self, matrix: &Matrix) -> BTreeMap<String, Sha256> {
        self.fetched
            .iter()
            .filter(|f| matrix.lock.pin(&f.artifact.key()).is_none())
            .map(|f| (f.artifact.key(), f.digest.clone()))
            .collect()
    }
}

/// Why a mirror tree could not be written.
#[derive(Debug, Error)]
pub enum MirrorError {
    /// The artifact's URL has no path to place it under.
    #[error("{url}: the URL has no path to mirror it under")]
    NoPath {
        /// The URL.
        url: String,
    },
    /// Writing the tree failed.
    #[error("{message}")]
    Io {
        /// What happened, with the path.
        message: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Fetching failed before anything was written.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A cell's image list could not be made.
    #[error(transparent)]
    Render(#[from] RenderError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        message: describe_io(path, &source),
        source,
    }
}

/// What goes into a mirror tree.
#[derive(Debug, Clone)]
pub enum MirrorSource {
    /// Real artifacts, fetched through the cache.
    Fetch(FetchOptions),
    /// Generated stand-ins, padded per component to the sizes given.
    StandIns(BTreeMap<String, u64>),
}

/// What `mirror` wrote.
#[derive(Debug, Serialize)]
pub struct MirrorReport {
    /// Artifacts placed in the tree.
    pub placed: usize,
    /// Stand-in images written under `images/` (stand-in mode).
    pub images: usize,
    /// Failures (fetch mode), as text.
    pub failures: Vec<String>,
}

/// Writes `DIR/<host>/<path>` for every artifact of `cells` plus
/// `SHA256SUMS` (and the upstream checksum files the components name),
/// merging with what the tree already lists. Stand-in mode also writes a
/// stand-in for every image of the cells' image lists into the OCI layout
/// `DIR/images` (by full reference), which `build --image-layout` saves
/// into `registry/`.
pub fn mirror(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    to: &Path,
    source: MirrorSource,
    reporter: &dyn Reporter,
) -> Result<MirrorReport, MirrorError> {
    let artifacts = &artifacts_of(matrix, cells)?;
    let stand_ins = matches!(source, MirrorSource::StandIns(_));
    let sums_path = to.join(SUMS_FILE);
    let mut sums = std::fs::read_to_string(&sums_path)
        .map(|text| parse_sums(&text))
        .unwrap_or_default();
    let mut failures = Vec::new();
    let mut placed: Vec<(Artifact, Sha256)> = Vec::new();
    let place_at = |artifact: &Artifact| -> Result<PathBuf, MirrorError> {
        let relative = tree_path(&artifact.url).ok_or_else(|| MirrorError::NoPath {
            url: artifact.url.clone(),
        })?;
        Ok(to.join(relative))
    };
    match source {
        MirrorSource::StandIns(sizes) => {
            for artifact in artifacts {
                let dest = place_at(artifact)?;
                write_stand_in(artifact, &dest, sizes.get(artifact.component.as_str()).copied())
                    .map_err(io_at(&dest))?;
                let file = std::fs::File::open(&dest).map_err(io_at(&dest))?;
                placed.push((artifact.clone(), Sha256::of_reader(file).map_err(io_at(&dest))?.0));
            }
        }
        MirrorSource::Fetch(options) => {
            let set = fetch_set(matrix, options, artifacts, reporter)?;
            failures = set.report().failures;
            for item in set.fetched() {
                let dest = place_at(&item.artifact)?;
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
                }
                let temp = dest.with_extension("partial");
                std::fs::copy(&item.path, &temp).map_err(io_at(&temp))?;
                std::fs::rename(&temp, &dest).map_err(io_at(&dest))?;
                placed.push((item.artifact.clone(), item.digest.clone()));
            }
        }
    }
    let mut checksum_files: BTreeMap<String, BTreeMap<String, Sha256>> = BTreeMap::new();
    for (artifact, digest) in &placed {
        if let Some(relative) = tree_path(&artifact.url) {
            sums.insert(relative, digest.clone());
        }
        if let Some(checksum) = artifact.checksum_url.as_deref().and_then(tree_path) {
            checksum_files
                .entry(checksum)
                .or_default()
                .insert(artifact.file_name().to_string(), digest.clone());
        }
    }
    for (relative, entries) in &checksum_files {
        let dest = to.join(relative);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        write_atomic(&dest, format_sums(entries).as_bytes()).map_err(io_at(&dest))?;
    }
    std::fs::create_dir_all(to).map_err(io_at(to))?;
    write_atomic(&sums_path, format_sums(&sums).as_bytes()).map_err(io_at(&sums_path))?;
    let images = if stand_ins {
        stand_in_images(matrix, cells, to)?
    } else {
        0
    };
    Ok(MirrorReport {
        placed: placed.len(),
        images,
        failures,
    })
}

/// The layout `mirror --stand-ins` writes images into, beside the binaries.
pub const STAND_IN_IMAGES: &str = "images";

/// Writes a stand-in for every image the cells save into `registry/`
/// (their image lists, k3s's from its stand-in list in the tree).
fn stand_in_images(matrix: &Matrix, cells: &[&PlannedCell], to: &Path) -> Result<usize, MirrorError> {
    let mut names = std::collections::BTreeSet::new();
    let mut arches = std::collections::BTreeSet::new();
    let mut parts: BTreeMap<String, crate::oci::StandIn> = BTreeMap::new();
    for planned in cells {
        for part in image_parts_for(matrix, &planned.cell)? {
            let lvscare = matrix
                .render
                .as_ref()
                .map(|config| config.lvscare_image(&planned.cell))
                .unwrap_or_default();
            let files = part
                .files
                .keys()
                .map(|member| {
                    if member.ends_with("ImageList") {
                        // The list the image brings: the cell's lvscare.
                        (member.clone(), format!("{lvscare}\n").into_bytes(), 0o644)
                    } else {
                        let script = format!(
                            "#!/bin/sh\n# STAND-IN for {member} from {}, generated by `matrix mirror --stand-ins`.\necho \"stand-in {member}\"\nexit 0\n",
                            part.image
                        );
                        (member.clone(), script.into_bytes(), 0o755)
                    }
                })
                .collect();
            let entry = parts
                .entry(part.image.clone())
                .or_insert_with(|| crate::oci::StandIn {
                    reference: part.image.clone(),
                    arches: Vec::new(),
                    files,
                });
            if !entry.arches.contains(&planned.cell.arch) {
                entry.arches.push(planned.cell.arch);
            }
        }
        let list = artifacts_for(matrix, &planned.cell)?
            .into_iter()
            .find(|a| a.placement == Placement::ImageList);
        let supplied = match list
            .as_ref()
            .and_then(|a| tree_path(&a.url).map(|p| (a, to.join(p))))
        {
            Some((artifact, path)) => Some((
                artifact.component.as_str(),
                std::fs::read(&path).map_err(io_at(&path))?,
            )),
            None => None,
        };
        let images = crate::render::cell_images(
            matrix,
            planned,
            supplied
                .as_ref()
                .map(|(component, text)| (*component, text.as_slice())),
        )?;
        for image in images {
            // The name a build looks the image up by (`docker.io/library/x:latest`).
            let name = image
                .parse::<crate::registry::ImageRef>()
                .map(|r| r.to_string())
                .unwrap_or(image);
            names.insert(name);
        }
        arches.insert(planned.cell.arch);
    }
    let names: Vec<String> = names.into_iter().collect();
    let arches: Vec<_> = arches.into_iter().collect();
    let dir = to.join(STAND_IN_IMAGES);
    let layout = crate::oci::RefLayout::at(&dir);
    let parts: Vec<crate::oci::StandIn> = parts.into_values().collect();
    let written = layout.write_stand_ins(&names, &arches).map_err(io_at(&dir))?;
    Ok(written + layout.write_images(&parts).map_err(io_at(&dir))?)
}

/// Gives a rendered cell whose image list comes from a component (k3s's
/// `k3s-images.txt`) that list, read from the verified download. A list
/// that was not fetched is left to the step that places the cell's
/// artifacts, which reports the failure.
pub fn use_fetched_list(
    matrix: &Matrix,
    planned: &PlannedCell,
    rendered: &mut RenderedCell,
    set: &FetchSet,
) -> Result<(), RenderError> {
    let artifacts = artifacts_for(matrix, &planned.cell).unwrap_or_default();
    for artifact in artifacts.iter().filter(|a| a.placement == Placement::ImageList) {
        let Some(fetched) = set.get(artifact) else {
            continue;
        };
        let mut text = Vec::new();
        // One byte over the renderer's bound is enough to refuse it.
        std::fs::File::open(&fetched.path)
            .and_then(|file| {
                io::Read::read_to_end(&mut io::Read::take(file, IMAGE_LIST_BYTES as u64 + 1), &mut text)
            })
            .map_err(|error| RenderError::ImageList {
                component: artifact.component.clone(),
                line: 0,
                reason: format!("reading {}: {error}", fetched.path.display()),
            })?;
        crate::render::use_image_list(matrix, planned, rendered, &artifact.component, &text)?;
    }
    Ok(())
}
