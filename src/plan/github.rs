//! GitHub Actions job matrices from planned cells: one job per image and
//! index tag (both arches in it), or N stable shards with their index
//! tags. Pure shaping; the CLI prints the value as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{PlannedCell, Shard};

/// GitHub allows at most this many jobs in one matrix.
pub const GITHUB_JOB_LIMIT: usize = 256;

/// One GitHub Actions job: an image's index tag with its arches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubJob {
    /// The image (`kubernetes`, `kubernetes-docker`, ...).
    pub image: String,
    /// The CRI.
    pub cri: String,
    /// The Kubernetes version.
    pub kube: String,
    /// The sealos version.
    pub sealos: String,
    /// The index tag.
    pub tag: String,
    /// The arches of the index, in plan order.
    pub arch: Vec<String>,
}

/// `{"include": [...]}`: one job per image and index tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubMatrix {
    /// The jobs, in plan order.
    pub include: Vec<GithubJob>,
}

impl GithubMatrix {
    /// Jobs per index tag, in the order the cells first name them.
    pub fn of(cells: &[&PlannedCell]) -> GithubMatrix {
        let mut jobs: Vec<GithubJob> = Vec::new();
        let mut position: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for cell in cells {
            let key = (cell.image.as_str(), cell.tags.index_tag.as_str());
            let index = *position.entry(key).or_insert_with(|| {
                jobs.push(GithubJob {
                    image: cell.image.clone(),
                    cri: cell.cell.cri.to_string(),
                    kube: cell.cell.kube.to_string(),
                    sealos: cell.cell.sealos.to_string(),
                    tag: cell.tags.index_tag.to_string(),
                    arch: Vec::new(),
                });
                jobs.len() - 1
            });
            jobs[index].arch.push(cell.cell.arch.to_string());
        }
        GithubMatrix { include: jobs }
    }

    /// The `--shard K/N` split that brings every part within GitHub's
    /// limit, when this matrix exceeds it.
    pub fn shards_needed(&self) -> Option<usize> {
        (self.include.len() > GITHUB_JOB_LIMIT).then(|| self.include.len().div_ceil(GITHUB_JOB_LIMIT))
    }
}

/// One CI job of `--jobs N`: a shard and the index tags it builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubShard {
    /// `K/N`.
    pub shard: String,
    /// Space-separated `image:index-tag` selectors (both arches each).
    pub tags: String,
    /// Cells (per-arch images) in the shard.
    pub cells: usize,
}

/// `{"include": [...]}` of N stable shards, empty ones left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubShards {
    /// The non-empty shards, in order.
    pub include: Vec<GithubShard>,
}

impl GithubShards {
    /// `jobs` stable shards of `cells` (clamped to 1..=256).
    pub fn of(cells: &[&PlannedCell], jobs: usize) -> GithubShards {
        let jobs = jobs.clamp(1, GITHUB_JOB_LIMIT);
        let include = (1..=jobs)
            .filter_map(|index| {
                let part = Shard { index, count: jobs }.take(cells.to_vec());
                let mut tags: Vec<String> = Vec::new();
                for cell in &part {
                    let tag = format!("{}:{}", cell.image, cell.tags.index_tag);
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                (!part.is_empty()).then(|| GithubShard {
                    shard: format!("{index}/{jobs}"),
                    tags: tags.join(" "),
                    cells: part.len(),
                })
            })
            .collect();
        GithubShards { include }
    }
}

/// Every `image:tag` the cells publish (per-arch, index and aliases),
/// sorted, each once.
pub fn published_tags(cells: &[&PlannedCell]) -> Vec<String> {
    let mut tags: Vec<String> = cells
        .iter()
        .flat_map(|cell| cell.tags.all().map(move |tag| format!("{}:{tag}", cell.image)))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Matrix;
    use crate::plan::Plan;

    fn plan() -> Plan {
        let matrix =
            Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap();
        Plan::build(&matrix).unwrap()
    }

    fn index_of<'p>(plan: &'p Plan, image: &str, index_tag: &str) -> Vec<&'p PlannedCell> {
        plan.cells
            .iter()
            .filter(|c| c.image == image && c.tags.index_tag.as_str() == index_tag)
            .collect()
    }

    #[test]
    fn one_job_per_index_tag_with_both_arches() {
        let plan = plan();
        let mut cells = index_of(&plan, "kubernetes", "v1.24.4-4.2.1");
        cells.extend(index_of(&plan, "kubernetes-docker", "v1.24.4-4.2.1"));
        assert_eq!(cells.len(), 4);
        let matrix = GithubMatrix::of(&cells);
        assert_eq!(matrix.include.len(), 2);
        let job = &matrix.include[0];
        assert_eq!(
            (job.image.as_str(), job.tag.as_str()),
            ("kubernetes", "v1.24.4-4.2.1")
        );
        assert_eq!(
            (job.cri.as_str(), job.kube.as_str(), job.sealos.as_str()),
            ("containerd", "v1.24.4", "4.2.1")
        );
        assert_eq!(job.arch, ["amd64", "arm64"]);
        assert_eq!(matrix.shards_needed(), None);
        let json = serde_json::to_value(&matrix).unwrap();
        assert_eq!(json["include"][1]["image"], "kubernetes-docker");
    }

    #[test]
    fn the_full_plan_needs_shards_and_they_cover_it_once() {
        let plan = plan();
        let cells: Vec<&PlannedCell> = plan.cells.iter().collect();
        let matrix = GithubMatrix::of(&cells);
        let needed = matrix.shards_needed().expect("the full plan exceeds 256 jobs");
        assert_eq!(needed, matrix.include.len().div_ceil(GITHUB_JOB_LIMIT));
        let shards = GithubShards::of(&cells, 7);
        assert_eq!(shards.include.len(), 7);
        assert_eq!(shards.include.iter().map(|s| s.cells).sum::<usize>(), cells.len());
        let tags: usize = shards.include.iter().map(|s| s.tags.split(' ').count()).sum();
        assert_eq!(tags, matrix.include.len(), "each index tag in exactly one shard");
        assert_eq!(shards.include[0].shard, "1/7");
    }

    #[test]
    fn empty_shards_are_left_out_and_jobs_are_clamped() {
        let plan = plan();
        let cells = index_of(&plan, "kubernetes", "v1.24.4-4.2.1");
        let shards = GithubShards::of(&cells, 3);
        assert_eq!(shards.include.len(), 1);
        assert_eq!(shards.include[0].tags, "kubernetes:v1.24.4-4.2.1");
        assert_eq!(shards.include[0].cells, 2);
        assert_eq!(GithubShards::of(&cells, 0).include[0].shard, "1/1");
    }

    #[test]
    fn published_tags_are_sorted_and_unique() {
        let plan = plan();
        let cells = index_of(&plan, "kubernetes", "v1.24.4-4.2.1");
        let tags = published_tags(&cells);
        assert!(tags.contains(&"kubernetes:v1.24.4-4.2.1".to_string()));
        assert!(tags.contains(&"kubernetes:v1.24.4-4.2.1-amd64".to_string()));
        assert!(tags.windows(2).all(|w| w[0] < w[1]));
    }
}
