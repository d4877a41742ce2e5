//! One cell assembly. A planned cell is rendered and its needs decided
//! once ([`prepare`] gives a [`CellPlan`]: context, image config,
//! [`CellNeeds`]); after the downloads, [`CellPlan::assemble`] places them
//! and decides the images the cell saves ([`AssembledCell`]). `render`,
//! `build`, `fetch` and `mirror` all take a cell's artifacts from here, and
//! the image list is always what the final context lists under
//! `images/shim/` ([`shim_images`]), whoever put the lists there.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rayon::prelude::*;
use thiserror::Error;

use super::fetch::FetchSet;
use crate::config::Matrix;
use crate::context::Context;
use crate::fetch::{Cache, FetchError, pack_all, place, place_from_layers};
use crate::oci::Compression;
use crate::plan::{Artifact, CellNeeds, NeedsError, PlannedCell};
use crate::render::{
    IMAGE_LIST_BYTES, ImageMeta, RenderError, RenderedCell, render_cell, shim_images, supply_image_list,
};

/// A cell rendered, with what it needs from outside decided once.
#[derive(Debug, Clone)]
pub struct CellPlan<'p> {
    /// The planned cell.
    pub planned: &'p PlannedCell,
    /// Its downloads and image parts.
    pub needs: CellNeeds,
    /// Its rendered context and image config.
    pub rendered: RenderedCell,
}

/// A cell with everything placed: what its image is made of.
#[derive(Debug, Clone)]
pub struct AssembledCell {
    /// The full context: rendered files, downloads, files out of images.
    pub context: Context,
    /// Labels, env and cmd for the image config.
    pub meta: ImageMeta,
    /// The images it saves into `registry/`, as its context lists them.
    pub images: Vec<String>,
}

/// The verified layers of an image for one platform, base first.
pub type ImageLayers = Vec<(PathBuf, Compression)>;

/// Why a cell cannot be planned: bad input, found before any download.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// The cell does not render (template, context, lock facts), or the
    /// image list it takes from a download is unusable.
    #[error("{cell}: {source}")]
    Render {
        /// The cell's image and tag.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// A component's version cannot be resolved for a cell.
    #[error(transparent)]
    Needs(#[from] NeedsError),
}

/// Why one cell could not be assembled (the other cells go on).
#[derive(Debug, Error)]
pub enum AssembleError {
    /// An artifact the cell needs was not fetched.
    #[error("{artifact} was not fetched{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    NotFetched {
        /// The artifact (`kubelet 1.24.4 amd64`).
        artifact: String,
        /// The fetch error, if the fetch was tried.
        reason: Option<String>,
    },
    /// Placing an artifact or a file out of an image failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The final image lists do not parse.
    #[error("{cell}: {source}")]
    ImageList {
        /// The cell's image and tag.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
}

/// `image:tag`, how errors name a cell.
fn name(planned: &PlannedCell) -> String {
    format!("{}:{}", planned.image, planned.tags.tag)
}

/// Renders every cell and decides its needs, stopping at a bad cell before
/// anything is downloaded, so template and context mistakes are bad input.
pub fn prepare<'p>(matrix: &Matrix, cells: &[&'p PlannedCell]) -> Result<Vec<CellPlan<'p>>, PrepareError> {
    cells
        .par_iter()
        .map(|planned| {
            let rendered = render_cell(matrix, planned).map_err(|source| PrepareError::Render {
                cell: name(planned),
                source,
            })?;
            Ok(CellPlan {
                planned,
                needs: CellNeeds::of(matrix, &planned.cell)?,
                rendered,
            })
        })
        .collect()
}

/// Each cell's needs, in selection order, without rendering (`fetch`,
/// `mirror`).
pub fn needs_of(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<CellNeeds>, NeedsError> {
    cells
        .iter()
        .map(|planned| CellNeeds::of(matrix, &planned.cell))
        .collect()
}

/// Every artifact in `needs`, once per URL, in a stable order.
pub fn unique_artifacts<'a>(needs: impl IntoIterator<Item = &'a CellNeeds>) -> Vec<Artifact> {
    let mut by_url = BTreeMap::new();
    for artifact in needs.into_iter().flat_map(|needs| &needs.artifacts) {
        by_url
            .entry(artifact.url.clone())
            .or_insert_with(|| artifact.clone());
    }
    by_url.into_values().collect()
}

/// Every artifact the cells need, once per URL, in a stable order.
pub fn artifacts_of(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<Artifact>, NeedsError> {
    Ok(unique_artifacts(&needs_of(matrix, cells)?))
}

/// Every artifact the planned cells need, once per URL.
pub fn plans_artifacts(plans: &[CellPlan<'_>]) -> Vec<Artifact> {
    unique_artifacts(plans.iter().map(|plan| &plan.needs))
}

/// Puts the image list each cell takes from a download (k3s's
/// `k3s-images.txt`) in place, read from the verified file. A list that was
/// not fetched is left to [`CellPlan::assemble`], which reports it; an
/// unusable one is bad input and stops here, before any cell is written.
pub fn take_lists(
    matrix: &Matrix,
    plans: &mut [CellPlan<'_>],
    fetched: &FetchSet,
) -> Result<(), PrepareError> {
    for plan in plans {
        let Some(artifact) = plan.needs.image_list() else {
            continue;
        };
        let Some(file) = fetched.get(artifact) else {
            continue;
        };
        let bad = |source| PrepareError::Render {
            cell: name(plan.planned),
            source,
        };
        let mut text = Vec::new();
        // One byte over the renderer's bound is enough to refuse it.
        std::fs::File::open(&file.path)
            .and_then(|f| f.take(IMAGE_LIST_BYTES as u64 + 1).read_to_end(&mut text))
            .map_err(|error| {
                bad(RenderError::ImageList {
                    component: artifact.component.clone(),
                    line: 0,
                    reason: format!("reading {}: {error}", file.path.display()),
                })
            })?;
        supply_image_list(
            matrix,
            plan.planned,
            &mut plan.rendered.context,
            &artifact.component,
            &text,
        )
        .map_err(bad)?;
    }
    Ok(())
}

impl CellPlan<'_> {
    /// The cell's full context: every download placed (and `pack` bundles
    /// packed), then the files of each image part taken out of its image's
    /// layers (`part_layers`, one list per part, in order), then the images
    /// its context lists.
    pub fn assemble(
        self,
        matrix: &Matrix,
        fetched: &FetchSet,
        cache: &Cache,
        part_layers: &[ImageLayers],
    ) -> Result<AssembledCell, AssembleError> {
        let mut context = self.rendered.context;
        for artifact in &self.needs.artifacts {
            let file = fetched.get(artifact).ok_or_else(|| AssembleError::NotFetched {
                artifact: artifact.label(),
                reason: fetched.failure(artifact).map(ToString::to_string),
            })?;
            place(&mut context, artifact, file, cache)?;
        }
        pack_all(matrix, &mut context, cache)?;
        for (index, part) in self.needs.parts.iter().enumerate() {
            let layers = part_layers.get(index).map(Vec::as_slice).unwrap_or_default();
            place_from_layers(&mut context, part, layers, cache)?;
        }
        let images = shim_images(&context).map_err(|source| AssembleError::ImageList {
            cell: name(self.planned),
            source,
        })?;
        Ok(AssembledCell {
            context,
            meta: self.rendered.meta,
            images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{Fetched, Outcome};
    use crate::plan::Plan;
    use crate::render::cell_images;

    fn matrix() -> Matrix {
        Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap()
    }

    /// The planned cell of `tag` for `arch`.
    fn cell<'p>(plan: &'p Plan, tag: &str, arch: &str) -> &'p PlannedCell {
        plan.select(&tag.parse().unwrap())
            .into_iter()
            .find(|c| c.cell.arch.as_str() == arch)
            .unwrap_or_else(|| panic!("no {arch} cell of {tag}"))
    }

    /// `artifact` as fetched into `dir`, holding `bytes`.
    fn fetched(dir: &std::path::Path, artifact: &Artifact, bytes: &[u8]) -> Fetched {
        let path = dir.join(&artifact.component);
        std::fs::write(&path, bytes).unwrap();
        Fetched {
            artifact: artifact.clone(),
            digest: crate::digest::Sha256::of(bytes),
            size: bytes.len() as u64,
            outcome: Outcome::Cached,
            path,
        }
    }

    #[test]
    fn assembly_places_the_needs_decided_when_the_cell_was_prepared() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let planned = cell(&plan, "kubernetes:v1.24.4-4.2.1", "amd64");
        let mut plans = prepare(&matrix, &[planned]).unwrap();
        assert_eq!(plans[0].needs, CellNeeds::of(&matrix, &planned.cell).unwrap());
        assert_eq!(
            plans_artifacts(&plans),
            artifacts_of(&matrix, &[planned]).unwrap()
        );
        // Assembly takes what the plan holds and resolves nothing again:
        // with no downloads planned, an empty fetch set is enough.
        plans[0].needs.artifacts.clear();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let plan = plans.pop().unwrap();
        let cell = plan.assemble(&matrix, &FetchSet::default(), &cache, &[]).unwrap();
        assert!(cell.context.get("bin/kubeadm").is_none());
        assert!(cell.context.get("etc/kubeadm.yml").is_some());
    }

    #[test]
    fn a_missing_download_fails_its_cell_and_names_the_artifact() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let planned = cell(&plan, "kubernetes:v1.24.4-4.2.1", "arm64");
        let plan = prepare(&matrix, &[planned]).unwrap().pop().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        match plan.assemble(&matrix, &FetchSet::default(), &cache, &[]) {
            Err(AssembleError::NotFetched { artifact, reason }) => {
                assert_eq!(artifact, "kubeadm 1.24.4 arm64");
                assert!(reason.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_k3s_cell_saves_the_list_of_its_release_with_kubeadms_pause() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let planned = cell(&plan, "k3s:v1.28.1-4.3.3", "arm64");
        let mut plans = prepare(&matrix, &[planned]).unwrap();
        // The k3s binary and the list (archives are another test's work).
        plans[0]
            .needs
            .artifacts
            .retain(|a| a.component.starts_with("k3s"));
        let needs = &plans[0].needs;
        let list = needs.image_list().expect("k3s takes its list from a download");
        assert_eq!(list.component, "k3s-images");
        let text = b"docker.io/rancher/klipper-helm:v0.8.2\ndocker.io/rancher/mirrored-pause:3.6\n";
        let dir = tempfile::tempdir().unwrap();
        let set = FetchSet::of(
            needs
                .artifacts
                .iter()
                .map(|a| match a.placement {
                    crate::config::Placement::ImageList => fetched(dir.path(), a, text),
                    _ => fetched(dir.path(), a, b"#!/bin/sh\n"),
                })
                .collect(),
        );
        take_lists(&matrix, &mut plans, &set).unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let cell = plans.pop().unwrap().assemble(&matrix, &set, &cache, &[]).unwrap();
        let want = [
            "docker.io/rancher/klipper-helm:v0.8.2",
            "registry.k8s.io/pause:3.9",
            "ghcr.io/labring/lvscare:v4.3.3",
        ];
        assert_eq!(cell.images, want);
        assert!(cell.context.get("bin/k3s").is_some());
        // `mirror --stand-ins` decides the same list without a context.
        assert_eq!(
            cell_images(&matrix, planned, Some(("k3s-images", text))).unwrap(),
            want
        );
    }

    #[test]
    fn an_image_part_that_brings_its_own_lvscare_list_decides_what_is_saved() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let planned = plan
            .cells
            .iter()
            .find(|c| c.cell.sealos.is_dev() && c.cell.cri.as_str() == "containerd")
            .expect("a dev cell");
        let mut plans = prepare(&matrix, &[planned]).unwrap();
        let part = &plans[0].needs.parts[0];
        assert_eq!(part.component, "sealos-patch");
        let rendered = plans[0].rendered.images().unwrap();
        assert!(rendered.last().unwrap().starts_with("ghcr.io/labring/lvscare:"));
        // One layer of the part's image: its files, and a list naming
        // another lvscare.
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("layer.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&blob).unwrap());
        for (path, text) in [
            ("cri/image-cri-shim", "shim"),
            ("opt/sealctl", "sealctl"),
            (
                "images/shim/LvscareImageList",
                "ghcr.io/labring/lvscare:patched\n",
            ),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, path, text.as_bytes()).unwrap();
        }
        tar.finish().unwrap();
        drop(tar);
        plans[0].needs.artifacts.clear();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let layers = vec![vec![(blob, Compression::None)]];
        let cell = plans
            .pop()
            .unwrap()
            .assemble(&matrix, &FetchSet::default(), &cache, &layers)
            .unwrap();
        let mut want = rendered;
        *want.last_mut().unwrap() = "ghcr.io/labring/lvscare:patched".into();
        assert_eq!(cell.images, want);
    }

    #[test]
    fn artifacts_shared_by_cells_are_listed_once() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let cells = plan.select(&"v1.24.4-4.2.1".parse().unwrap());
        assert!(cells.len() >= 4, "containerd, docker (and cri-o) for both arches");
        let needs = needs_of(&matrix, &cells).unwrap();
        let unique = unique_artifacts(&needs);
        let all: usize = needs.iter().map(|n| n.artifacts.len()).sum();
        assert!(unique.len() < all, "kubeadm is shared by every CRI of an arch");
        let urls: std::collections::BTreeSet<&str> = unique.iter().map(|a| a.url.expose()).collect();
        assert_eq!(urls.len(), unique.len());
    }
}
