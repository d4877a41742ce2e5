//! `matrix plan` and `matrix explain`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use matrix::pipeline::{MissingFrom, select};
use matrix::plan::{GithubMatrix, GithubShards, Shard, published_tags};
use matrix::{Matrix, PlannedCell, TagSelector};

use super::args::{FilterArgs, MissingArgs, RegistryArgs};
use super::output::{print_json, print_rows};
use super::{Outcome, load_plan};

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
    access: RegistryArgs,
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

/// `matrix plan`.
pub fn run_plan(path: &Path, args: &PlanArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let targets = args.missing.targets()?;
    let client = match targets.is_empty() {
        true => None,
        false => Some(args.access.client()?),
    };
    let store = client
        .as_ref()
        .and_then(|_| matrix::oci::Store::open_existing(&args.from).ok());
    let missing = client.as_ref().map(|client| MissingFrom {
        client,
        targets,
        store: store.as_ref(),
    });
    let cells = select(
        &matrix,
        &plan,
        &args.filters.listing(args.shard),
        missing.as_ref(),
    )?;
    let format = if args.json { PlanFormat::Json } else { args.format };
    match format {
        PlanFormat::Json => {
            let records: Vec<_> = cells.iter().map(|cell| cell.record()).collect();
            print_json(&records)?;
        }
        PlanFormat::Github => match args.jobs {
            Some(jobs) => print_json(&GithubShards::of(&cells, jobs))?,
            None => {
                let jobs = GithubMatrix::of(&cells);
                if let Some(shards) = jobs.shards_needed() {
                    tracing::warn!(
                        "{} jobs exceed GitHub's limit of {} per matrix; split with --shard K/{shards}",
                        jobs.include.len(),
                        matrix::plan::GITHUB_JOB_LIMIT
                    );
                }
                print_json(&jobs)?
            }
        },
        PlanFormat::Tags => {
            let rows: Vec<Vec<String>> = published_tags(&cells).into_iter().map(|tag| vec![tag]).collect();
            print_rows(&["TAG"], &rows)?;
        }
        PlanFormat::Table => {
            print_table(&cells)?;
            if super::output::stdout_is_tty() || args.summary {
                print_summary(&matrix::plan::Summary::of(&cells))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per cell with its tags and aliases.
fn print_table(cells: &[&PlannedCell]) -> Outcome<()> {
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
    Ok(())
}

/// Cells per sealos release and image, then the totals.
fn print_summary(summary: &matrix::plan::Summary) -> Outcome<()> {
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

/// `matrix explain`.
pub fn run_explain(path: &Path, args: &ExplainArgs) -> Outcome {
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
