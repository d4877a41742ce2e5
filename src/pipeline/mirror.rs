//! Mirror trees for air-gapped machines: every artifact a selection needs
//! (real downloads or marked stand-ins) under `DIR/<host>/<path>` with
//! `SHA256SUMS`, and in stand-in mode a stand-in for every image the cells
//! save.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use super::cell::{needs_of, unique_artifacts};
use super::fetch::fetch_set;
use crate::config::Matrix;
use crate::digest::Sha256;
use crate::fetch::{
    Artifact, FetchError, FetchOptions, SUMS_FILE, StandInFill, format_sums, parse_sums, tree_path,
    write_stand_in,
};
use crate::fsutil::{describe_io, write_atomic};
use crate::oci::{RefLayout, StandIn};
use crate::plan::{CellNeeds, NeedsError, PlannedCell};
use crate::progress::Reporter;
use crate::registry::ImageRef;
use crate::render::{RenderError, cell_images};

/// Why a mirror tree could not be written.
#[derive(Debug, Error)]
pub enum MirrorError {
    /// The artifact's URL has no path to place it under.
    #[error("{url}: the URL has no path to mirror it under")]
    NoPath {
        /// The URL (shown redacted).
        url: crate::net::SecretUrl,
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
    /// A component's version cannot be resolved for a cell.
    #[error(transparent)]
    Needs(#[from] NeedsError),
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
    /// Generated stand-ins, padded as the fill says.
    StandIns(StandInFill),
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
    let needs = needs_of(matrix, cells)?;
    let artifacts = &unique_artifacts(&needs);
    let stand_ins = matches!(source, MirrorSource::StandIns(_));
    let (placed, failures) = match source {
        MirrorSource::StandIns(fill) => (place_stand_ins(artifacts, &fill, to)?, Vec::new()),
        MirrorSource::Fetch(options) => {
            let set = fetch_set(matrix, options, artifacts, reporter)?;
            let failures = set.report().failures;
            let mut placed = Vec::new();
            for item in set.fetched() {
                let dest = place_at(to, &item.artifact)?;
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
                }
                let temp = dest.with_extension("partial");
                std::fs::copy(&item.path, &temp).map_err(io_at(&temp))?;
                std::fs::rename(&temp, &dest).map_err(io_at(&dest))?;
                placed.push((item.artifact.clone(), item.digest.clone()));
            }
            (placed, failures)
        }
    };
    write_sums(to, &placed)?;
    let images = if stand_ins {
        stand_in_images(matrix, cells, &needs, to)?
    } else {
        0
    };
    Ok(MirrorReport {
        placed: placed.len(),
        images,
        failures,
    })
}

/// Where an artifact lies in the tree.
fn place_at(to: &Path, artifact: &Artifact) -> Result<PathBuf, MirrorError> {
    let relative = tree_path(artifact.url.expose()).ok_or_else(|| MirrorError::NoPath {
        url: artifact.url.clone(),
    })?;
    Ok(to.join(relative))
}

/// Writes a stand-in for each artifact, padded to its component's size.
fn place_stand_ins(
    artifacts: &[Artifact],
    fill: &StandInFill,
    to: &Path,
) -> Result<Vec<(Artifact, Sha256)>, MirrorError> {
    let mut placed = Vec::new();
    for artifact in artifacts {
        let dest = place_at(to, artifact)?;
        write_stand_in(artifact, &dest, fill).map_err(io_at(&dest))?;
        let file = std::fs::File::open(&dest).map_err(io_at(&dest))?;
        placed.push((artifact.clone(), Sha256::of_reader(file).map_err(io_at(&dest))?.0));
    }
    Ok(placed)
}

/// Adds what was placed to the tree's `SHA256SUMS` (merging with what it
/// lists already) and writes the upstream checksum files the components
/// name.
fn write_sums(to: &Path, placed: &[(Artifact, Sha256)]) -> Result<(), MirrorError> {
    let sums_path = to.join(SUMS_FILE);
    let mut sums = std::fs::read_to_string(&sums_path)
        .map(|text| parse_sums(&text))
        .unwrap_or_default();
    let mut checksum_files: BTreeMap<String, BTreeMap<String, Sha256>> = BTreeMap::new();
    for (artifact, digest) in placed {
        if let Some(relative) = tree_path(artifact.url.expose()) {
            sums.insert(relative, digest.clone());
        }
        if let Some(checksum) = artifact
            .checksum_url
            .as_ref()
            .and_then(|url| tree_path(url.expose()))
        {
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
    write_atomic(&sums_path, format_sums(&sums).as_bytes()).map_err(io_at(&sums_path))
}

/// The layout `mirror --stand-ins` writes images into, beside the binaries.
pub const STAND_IN_IMAGES: &str = "images";

/// Writes a stand-in for every image the cells save into `registry/`
/// (their image lists, k3s's from its stand-in list in the tree), and for
/// the images their image parts come from.
fn stand_in_images(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    needs: &[CellNeeds],
    to: &Path,
) -> Result<usize, MirrorError> {
    let mut names = BTreeSet::new();
    let mut arches = BTreeSet::new();
    let mut parts: BTreeMap<String, StandIn> = BTreeMap::new();
    for (planned, needs) in cells.iter().zip(needs) {
        add_part_stand_ins(matrix, planned, needs, &mut parts);
        let supplied = match needs
            .image_list()
            .and_then(|a| tree_path(a.url.expose()).map(|p| (a, to.join(p))))
        {
            Some((artifact, path)) => Some((
                artifact.component.as_str(),
                std::fs::read(&path).map_err(io_at(&path))?,
            )),
            None => None,
        };
        let supplied = supplied.as_ref().map(|(c, text)| (*c, text.as_slice()));
        for image in cell_images(matrix, planned, supplied)? {
            // The name a build looks the image up by (`docker.io/library/x:latest`).
            let name = image.parse::<ImageRef>().map(|r| r.to_string()).unwrap_or(image);
            names.insert(name);
        }
        arches.insert(planned.cell.arch);
    }
    let names: Vec<String> = names.into_iter().collect();
    let arches: Vec<_> = arches.into_iter().collect();
    let dir = to.join(STAND_IN_IMAGES);
    let layout = RefLayout::at(&dir);
    let parts: Vec<StandIn> = parts.into_values().collect();
    let written = layout.write_stand_ins(&names, &arches).map_err(io_at(&dir))?;
    Ok(written + layout.write_images(&parts).map_err(io_at(&dir))?)
}

/// Adds the cell's arch to a stand-in of each image its parts come from:
/// a script per file, and the cell's lvscare as the list the image brings.
fn add_part_stand_ins(
    matrix: &Matrix,
    planned: &PlannedCell,
    needs: &CellNeeds,
    parts: &mut BTreeMap<String, StandIn>,
) {
    let lvscare = matrix
        .render
        .as_ref()
        .map(|config| config.lvscare_image(&planned.cell))
        .unwrap_or_default();
    for part in &needs.parts {
        let files = part
            .files
            .keys()
            .map(|member| {
                if member.ends_with("ImageList") {
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
        let entry = parts.entry(part.image.clone()).or_insert_with(|| StandIn {
            reference: part.image.clone(),
            arches: Vec::new(),
            files,
        });
        if !entry.arches.contains(&planned.cell.arch) {
            entry.arches.push(planned.cell.arch);
        }
    }
}
