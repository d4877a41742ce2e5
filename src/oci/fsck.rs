//! `fsck` of an OCI image layout: every descriptor reachable from
//! `index.json` is checked (digest form, media type of top-level entries,
//! size, digest of the bytes, manifests and indexes parse), and each
//! problem is named with the blob's path and the tags that reach it.
//! `--repair` deletes damaged blobs, drops the tags that need them and the
//! build records that point at them, so the next build writes them again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde::Serialize;

use super::store::{BlobProblem, Child, Store, StoreError, children, ref_name};
use crate::digest::Sha256;

/// What is wrong with one reachable descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Defect {
    /// The blob is missing, of another size, or does not hash to its digest.
    Blob {
        /// The blob problem.
        problem: BlobProblem,
    },
    /// A manifest or index that does not parse as JSON.
    Unparsable {
        /// Parser message.
        message: String,
    },
    /// A digest that is not `sha256:<64 hex>`.
    BadDigest,
    /// A top-level entry of `index.json` that is not a manifest or index.
    MediaType {
        /// The media type given.
        media_type: String,
    },
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Defect::Blob { problem } => write!(f, "{problem}"),
            Defect::Unparsable { message } => write!(f, "manifest does not parse: {message}"),
            Defect::BadDigest => f.write_str("digest is not sha256:<64 hex>"),
            Defect::MediaType { media_type } => {
                write!(
                    f,
                    "index.json entry of media type `{media_type}` is not a manifest or index"
                )
            }
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The descriptor's digest.
    pub digest: String,
    /// The blob's path inside the layout.
    pub path: String,
    /// What is wrong.
    pub defect: Defect,
    /// The ref names that reach it.
    pub refs: Vec<String>,
}

/// The outcome of an `fsck`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FsckReport {
    /// Distinct blobs checked.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Problems, in digest order.
    pub problems: Vec<Problem>,
    /// With `--repair`: damaged blobs deleted.
    pub deleted: Vec<String>,
    /// With `--repair`: ref names dropped (build them again).
    pub dropped_refs: Vec<String>,
}

const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

impl Store {
    /// Checks every reachable blob in full; with `repair`, removes what is
    /// damaged (see the module doc).
    pub fn fsck(&self, repair: bool) -> Result<FsckReport, StoreError> {
        let _lock = if repair { Some(self.lock()?) } else { None };
        let mut report = FsckReport::default();
        let mut defects: BTreeMap<String, Defect> = BTreeMap::new();
        let mut reached_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut checked: BTreeSet<String> = BTreeSet::new();
        for top in self.index()? {
            let name = ref_name(&top).unwrap_or("<unnamed>").to_string();
            let media_type = top.media_type().to_string();
            let mut queue = vec![Child {
                digest: top.digest().to_string(),
                size: top.size(),
                media_type: Some(media_type.clone()),
            }];
            if !MANIFEST_TYPES.contains(&media_type.as_str()) {
                defects.insert(top.digest().to_string(), Defect::MediaType { media_type });
            }
            let mut seen = BTreeSet::new();
            while let Some(child) = queue.pop() {
                if !seen.insert(child.digest.clone()) {
                    continue;
                }
                reached_by
                    .entry(child.digest.clone())
                    .or_default()
                    .insert(name.clone());
                if !checked.insert(child.digest.clone()) {
                    // Checked for an earlier tag; only its children's tags remain.
                    if !defects.contains_key(&child.digest)
                        && child.may_have_children()
                        && let Some(found) = self.small_children(&child.digest)
                    {
                        queue.extend(found);
                    }
                    continue;
                }
                match self.check_full(&child) {
                    Ok(size) => {
                        report.blobs += 1;
                        report.bytes += size;
                    }
                    Err(defect) => {
                        defects.insert(child.digest.clone(), defect);
                        continue;
                    }
                }
                let is_manifest = child
                    .media_type
                    .as_deref()
                    .is_some_and(|m| MANIFEST_TYPES.contains(&m));
                if is_manifest {
                    let bytes = fs::read(self.path_of(&child.digest))
                        .map_err(|e| StoreError::io(format!("reading {}", child.digest), e))?;
                    match children(&bytes) {
                        Ok(found) => queue.extend(found),
                        Err(error) => {
                            defects.insert(
                                child.digest.clone(),
                                Defect::Unparsable {
                                    message: error.to_string(),
                                },
                            );
                        }
                    }
                } else if child.may_have_children()
                    && let Some(found) = self.small_children(&child.digest)
                {
                    queue.extend(found);
                }
            }
        }
        for (digest, defect) in &defects {
            report.problems.push(Problem {
                digest: digest.clone(),
                path: format!(
                    "blobs/sha256/{}",
                    digest.strip_prefix("sha256:").unwrap_or(digest)
                ),
                defect: defect.clone(),
                refs: reached_by
                    .get(digest)
                    .map(|r| r.iter().cloned().collect())
                    .unwrap_or_default(),
            });
        }
        if repair && !report.problems.is_empty() {
            self.repair(&mut report)?;
        }
        Ok(report)
    }

    /// Size of a blob whose bytes match its descriptor, or its defect.
    fn check_full(&self, child: &Child) -> Result<u64, Defect> {
        if child.digest.parse::<Sha256>().is_err() {
            return Err(Defect::BadDigest);
        }
        let path = self.path_of(&child.digest);
        let blob = |problem| Defect::Blob { problem };
        let meta = fs::metadata(&path).map_err(|_| blob(BlobProblem::Missing))?;
        if meta.len() != child.size {
            return Err(blob(BlobProblem::Size {
                expected: child.size,
                actual: meta.len(),
            }));
        }
        let (actual, _) = fs::File::open(&path)
            .and_then(Sha256::of_reader)
            .map_err(|_| blob(BlobProblem::Missing))?;
        if actual.to_string() != child.digest {
            return Err(blob(BlobProblem::Digest {
                actual: actual.to_string(),
            }));
        }
        Ok(meta.len())
    }

    fn repair(&self, report: &mut FsckReport) -> Result<(), StoreError> {
        let bad: BTreeSet<String> = report.problems.iter().map(|p| p.digest.clone()).collect();
        for problem in &report.problems {
            // Only blobs whose bytes contradict their own name are deleted:
            // they are damaged copies, never anybody's data.
            if let Defect::Blob {
                problem: BlobProblem::Digest { .. } | BlobProblem::Size { .. },
            } = &problem.defect
                && let Ok(digest) = problem.digest.parse::<Sha256>()
                && fs::remove_file(self.blob_path(&digest)).is_ok()
            {
                report.deleted.push(problem.digest.clone());
            }
        }
        let drop: BTreeSet<String> = report
            .problems
            .iter()
            .flat_map(|p| p.refs.iter().cloned())
            .collect();
        self.drop_refs(&drop)?;
        // Referrers of images no tag names now would keep the damage reachable.
        self.drop_orphan_referrers()?;
        report.dropped_refs = drop.into_iter().collect();
        for kind in ["layers", "cells"] {
            self.drop_records(kind, &bad);
        }
        Ok(())
    }
}
