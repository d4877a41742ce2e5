//! `matrix plan` and `matrix explain`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use matrix::plan::{KubeFilter, PlanFilter, SealosFilter, Shard};
use matrix::{Arch, Cri, Matrix, Plan, PlannedCell, TagSelector};

use super::output::{print_json, print_rows};

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A table on a terminal, tab-separated lines otherwise.
    Table,
    /// A JSON array of cells.
    Json,
    /// A GitHub Actions matrix: one job per image and index tag.
    Github,
    /// One `image:tag` per line, every tag the plan publishes.
    Tags,
}

/// Axis filters shared by the commands that take a selection.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Kubernetes minor (`1.24`) or patch (`1.24.4`); repeat or comma-separate.
    #[arg(long, value_delimiter = ',')]
    pub kube: Vec<KubeFilter>,
    /// Sealos version (`4.1.3`, or `dev`).
    #[arg(long, value_delimiter = ',')]
    pub sealos: Vec<SealosFilter>,
    /// CRI (`containerd`, `docker`, `crio`, `k3s`).
    #[arg(long, value_delimiter = ',')]
    pub cri: Vec<Cri>,
    /// Architecture (`amd64`, `arm64`).
    #[arg(long, value_delimiter = ',')]
    pub arch: Vec<Arch>,
}

/// The cells a command acts on: tags, `--all`, axis filters and a shard,
/// the same for every command.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Tags selecting cells, in any form: `v1.24.4-4.1.3` (every CRI and
    /// arch), `kubernetes:v1.24.4-4.1.3-amd64`, `v1.24-latest`.
    pub selectors: Vec<matrix::TagSelector>,
    /// Every planned cell (also implied by a filter or --shard alone).
    #[arg(long, conflicts_with = "selectors")]
    pub all: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Only the K-th of N stable parts (1-based), e.g. `--shard 3/19`;
    /// both arches of an index stay in one part.
    #[arg(long)]
    pub shard: Option<Shard>,
}

impl SelectArgs {
    /// The library's selection value.
    pub fn selection(&self) -> matrix::plan::Selection {
        matrix::plan::Selection {
            selectors: self.selectors.clone(),
            all: self.all,
            filter: self.filters.filter(),
            within: None,
            shard: self.shard,
        }
    }

    /// The selected cells, narrowed by `--missing-from` to the cells whose
    /// tags a registry lacks or holds stale (`store`: the local layout, for
    /// stale detection); the shard is cut from that set.
    pub fn cells_missing<'p>(
        &self,
        matrix: &Matrix,
        plan: &'p Plan,
        missing: &MissingArgs,
        client: &matrix::registry::Client,
        store: &Path,
    ) -> anyhow::Result<Vec<&'p PlannedCell>> {
        if missing.missing_from.is_empty() {
            return self.cells(plan);
        }
        let targets = missing.targets()?;
        let mut unsharded = self.selection();
        unsharded.shard = None;
        unsharded.all |= unsharded.selectors.is_empty();
        let base = unsharded
            .cells(plan)
            .map_err(|error| super::UsageError(error.to_string()))?;
        let store = matrix::oci::Store::open_existing(store).ok();
        let keep = matrix::pipeline::missing_from(client, &targets, matrix, &base, store.as_ref())?;
        let mut selection = unsharded;
        selection.within = Some(keep);
        selection.shard = self.shard;
        selection
            .cells(plan)
            .map_err(|error| super::UsageError(error.to_string()).into())
    }

    /// The selected cells of `plan`; an empty or unknown selection is a
    /// usage error.
    pub fn cells<'p>(&self, plan: &'p Plan) -> anyhow::Result<Vec<&'p PlannedCell>> {
        self.selection()
            .cells(plan)
            .map_err(|error| super::UsageError(error.to_string()).into())
    }
}

/// `--missing-from REG/NS`: act only on what a registry lacks.
#[derive(Debug, Clone, Default, Args)]
pub struct MissingArgs {
    /// Only the cells whose tags REGISTRY/NAMESPACE lacks or holds stale
    /// (with the other arch of their index), as `diff` reports them;
    /// repeatable (any target lacking them). Parsed by the command, so a
    /// mistyped `user:pw@host` is never echoed back.
    #[arg(long)]
    pub missing_from: Vec<String>,
}

impl MissingArgs {
    /// The parsed targets.
    pub fn targets(&self) -> anyhow::Result<Vec<matrix::registry::Target>> {
        self.missing_from
            .iter()
            .map(|text| {
                text.parse()
                    .map_err(|e: matrix::registry::TargetError| super::UsageError::from(e).into())
            })
            .collect()
    }
}

impl FilterArgs {
    /// The library's filter value.
    pub fn filter(&self) -> PlanFilter {
        PlanFilter {
            kube: self.kube.clone(),
            sealos: self.sealos.clone(),
            cri: self.cri.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// Arguments of `matrix plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    filters: FilterArgs,
    /// Only the K-th of N stable parts (1-based), e.g. `--shard 2/4`.
    #[arg(long)]
    shard: Option<Shard>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: PlanFormat,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// After the table, cells per sealos release and image (always on a TTY).
    #[arg(long)]
    summary: bool,
    #[command(flatten)]
    missing: MissingArgs,
    /// With --missing-from: the local OCI layout, for stale detection.
    #[arg(long, default_value = "out/oci")]
    from: std::path::PathBuf,
    #[command(flatten)]
    access: super::registry::RegistryArgs,
    /// With `--format github`: N jobs, each a stable shard of the cells
    /// (both arches of an index together) with its index tags listed,
    /// instead of one job per tag. Empty shards are left out.
    #[arg(long)]
    jobs: Option<usize>,
}

/// Arguments of `matrix explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A tag in any form: `v1.24.4-4.1.3`, `v1.24.4-4.1.3-amd64`,
    /// `kubernetes:v1.24.4`, `v1.24-latest`.
    tag: TagSelector,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Loads the matrix and plans it; both errors carry their own location.
pub fn load_plan(path: &Path) -> anyhow::Result<(Matrix, Plan)> {
    let matrix = Matrix::load(path)?;
    let plan = Plan::build(&matrix).with_context(|| format!("planning {}", path.display()))?;
    Ok((matrix, plan))
}

/// `matrix plan`.
pub fn run_plan(path: &Path, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let (matrix, plan) = load_plan(path)?;
    let filter = args.filters.filter();
    let mut cells: Vec<&PlannedCell> = plan.cells.iter().filter(|c| filter.matches(&c.cell)).collect();
    if !args.missing.missing_from.is_empty() {
        let targets = args.missing.targets()?;
        let store = matrix::oci::Store::open_existing(&args.from).ok();
        let client = args.access.client()?;
        let keep = matrix::pipeline::missing_from(&client, &targets, &matrix, &cells, store.as_ref())?;
        cells.retain(|c| keep.contains(&(c.image.clone(), c.tags.tag.to_string())));
    }
    if let Some(shard) = args.shard {
        cells = shard.take(cells);
    }
    let format = if args.json { PlanFormat::Json } else { args.format };
    match format {
        PlanFormat::Json => {
            let records: Vec<_> = cells.iter().map(|cell| cell.record()).collect();
            print_json(&records)?;
        }
        PlanFormat::Github => match args.jobs {
            Some(jobs) => print_json(&github_shards(&cells, jobs))?,
            None => print_json(&github_matrix(&cells))?,
        },
        PlanFormat::Tags => {
            let rows: Vec<Vec<String>> = published_tags(&cells).into_iter().map(|tag| vec![tag]).collect();
            print_rows(&["TAG"], &rows)?;
        }
        PlanFormat::Table => {
            let rows: Vec<Vec<String>> = cells
                .iter()
                .map(|c| {
                    let mut aliases: Vec<String> = c.tags.aliases.iter().map(ToString::to_string).collect();
                    aliases.extend(c.tags.index_aliases.iter().map(ToString::to_string));
                    vec![
                        c.image.clone(),
                        c.tags.tag.to_string(),
                        c.tags.index_tag.to_string(),
                        c.cell.kube.to_string(),
                        c.cell.sealos.to_string(),
                        c.cell.cri.to_string(),
                        c.cell.arch.to_string(),
                        aliases.join(","),
                    ]
                })
                .collect();
            print_rows(
                &[
                    "IMAGE", "TAG", "INDEX", "KUBE", "SEALOS", "CRI", "ARCH", "ALIASES",
                ],
                &rows,
            )?;
            if super::output::stdout_is_tty() || args.summary {
                print_summary(&matrix::plan::Summary::of(&cells))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Cells per sealos release and image, then the totals.
fn print_summary(summary: &matrix::plan::Summary) -> anyhow::Result<()> {
    println!();
    let mut header = vec!["SEALOS"];
    header.extend(summary.images.iter().map(String::as_str));
    let mut rows: Vec<Vec<String>> = summary
        .releases
        .iter()
        .map(|(sealos, counts)| {
            std::iter::once(sealos.clone())
                .chain(counts.iter().map(ToString::to_string))
                .collect()
        })
        .collect();
    rows.push(
        std::iter::once("cells".to_string())
            .chain(summary.totals.iter().map(ToString::to_string))
            .collect(),
    );
    Ok(print_rows(&header, &rows)?)
}

/// Every `image:tag` the cells publish (per-arch, index and aliases), sorted.
fn published_tags(cells: &[&PlannedCell]) -> Vec<String> {
    let mut tags: Vec<String> = cells
        .iter()
        .flat_map(|cell| cell.tags.all().map(move |tag| format!("{}:{tag}", cell.image)))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// One GitHub Actions job: an image's index tag with its arches.
#[derive(Debug, Serialize)]
struct GithubJob {
    image: String,
    cri: String,
    kube: String,
    sealos: String,
    tag: String,
    arch: Vec<String>,
}

#[derive(Debug, Serialize)]
struct GithubMatrix {
    include: Vec<GithubJob>,
}

/// GitHub allows at most this many jobs in one matrix.
const GITHUB_JOB_LIMIT: usize = 256;

/// One CI job of `--jobs N`: a shard and the index tags it builds.
#[derive(Debug, Serialize)]
struct GithubShard {
    /// `K/N`.
    shard: String,
    /// Space-separated `image:index-tag` selectors (both arches each).
    tags: String,
    /// Cells (per-arch images) in the shard.
    cells: usize,
}

/// `{"include": [...]}` of N stable shards, empty ones left out.
fn github_shards(cells: &[&PlannedCell], jobs: usize) -> serde_json::Value {
    let jobs = jobs.clamp(1, GITHUB_JOB_LIMIT);
    let include: Vec<GithubShard> = (1..=jobs)
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
    serde_json::json!({ "include": include })
}

fn github_matrix(cells: &[&PlannedCell]) -> GithubMatrix {
    let mut jobs: BTreeMap<(usize, String), GithubJob> = BTreeMap::new();
    let mut order: BTreeMap<(String, String), usize> = BTreeMap::new();
    for cell in cells {
        let key = (cell.image.clone(), cell.tags.index_tag.to_string());
        let next = order.len();
        let position = *order.entry(key.clone()).or_insert(next);
        jobs.entry((position, key.1.clone()))
            .or_insert_with(|| GithubJob {
                image: cell.image.clone(),
                cri: cell.cell.cri.to_string(),
                kube: cell.cell.kube.to_string(),
                sealos: cell.cell.sealos.to_string(),
                tag: key.1.clone(),
                arch: Vec::new(),
            })
            .arch
            .push(cell.cell.arch.to_string());
    }
    if jobs.len() > GITHUB_JOB_LIMIT {
        tracing::warn!(
            "{} jobs exceed GitHub's limit of {GITHUB_JOB_LIMIT} per matrix; split with --shard K/{}",
            jobs.len(),
            jobs.len().div_ceil(GITHUB_JOB_LIMIT)
        );
    }
    GithubMatrix {
        include: jobs.into_values().collect(),
    }
}

/// `matrix explain`.
pub fn run_explain(path: &Path, args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let matrix = Matrix::load(path)?;
    let explanation = matrix::plan::explain(&matrix, &args.tag)?;
    if args.json {
        print_json(&explanation)?;
        return Ok(ExitCode::SUCCESS);
    }
    let headline = match explanation.status {
        "planned" => "built",
        "unknown" => "not built: no cell carries this tag",
        _ => "not built",
    };
    println!("{}: {headline}", explanation.query);
    // Group cells by what decided them, so one rule is said once.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cell in &explanation.cells {
        let why = if cell.reasons.is_empty() {
            "planned".to_string()
        } else {
            format!("{} by {}", cell.status, cell.reasons.join("; "))
        };
        groups.entry(why).or_default().push(format!(
            "{}:{} ({} {} sealos {} {})",
            cell.image, cell.tag, cell.cri, cell.kube, cell.sealos, cell.arch
        ));
    }
    for (why, cells) in &groups {
        println!("  {why}");
        for cell in cells {
            println!("    {cell}");
        }
    }
    for note in &explanation.notes {
        println!("  {note}");
    }
    Ok(ExitCode::SUCCESS)
}
