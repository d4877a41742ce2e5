//! `matrix render`: write the build context of the cells a tag selects.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use matrix::render::render_cell;
use matrix::{Arch, Cri, PlannedCell, TagSelector};

use super::UsageError;
use super::output::print_json;
use super::plan::load_plan;

/// Arguments of `matrix render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Any tag form: `v1.24.4-4.1.3`, `kubernetes:v1.24.4-4.1.3-amd64`, ...
    tag: TagSelector,
    /// Only this CRI's image.
    #[arg(long)]
    cri: Option<Cri>,
    /// Only this architecture.
    #[arg(long)]
    arch: Option<Arch>,
    /// Output folder. With --cri and --arch the context goes here;
    /// otherwise each cell goes to OUT/<image>/<tag>/.
    #[arg(long)]
    out: PathBuf,
    /// Replace output folders that already hold files.
    #[arg(long)]
    force: bool,
    /// Also fetch the cells' binaries and place them (the full build context).
    #[arg(long)]
    binaries: bool,
    #[command(flatten)]
    source: super::fetch::SourceArgs,
    /// Print the file list as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct FileRecord {
    path: String,
    origin: String,
    mode: String,
}

#[derive(Debug, Serialize)]
struct CellRecord {
    image: String,
    tag: String,
    dir: PathBuf,
    files: Vec<FileRecord>,
}

/// Selects the planned cells a tag (and optional CRI/arch) names.
pub fn select_cells<'p>(
    cells: &'p [PlannedCell],
    tag: &TagSelector,
    cri: Option<Cri>,
    arch: Option<Arch>,
) -> anyhow::Result<Vec<&'p PlannedCell>> {
    let selected: Vec<&PlannedCell> = cells
        .iter()
        .filter(|cell| cell.is_selected_by(tag))
        .filter(|cell| cri.is_none_or(|c| c == cell.cell.cri))
        .filter(|cell| arch.is_none_or(|a| a == cell.cell.arch))
        .collect();
    if selected.is_empty() {
        return Err(UsageError(format!(
            "no planned cell carries `{tag}`{}{}\n  help: `matrix explain {tag}` says why",
            cri.map(|c| format!(" for CRI {c}")).unwrap_or_default(),
            arch.map(|a| format!(" on {a}")).unwrap_or_default(),
        ))
        .into());
    }
    Ok(selected)
}

/// `matrix render`.
pub fn run(matrix_path: &Path, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (matrix, plan) = load_plan(matrix_path)?;
    let cells = select_cells(&plan.cells, &args.tag, args.cri, args.arch)?;
    let single = args.cri.is_some() && args.arch.is_some() && cells.len() == 1;
    let fetched = if args.binaries {
        let artifacts = super::fetch::artifacts_of(&matrix, &cells)?;
        let (fetched, failures) = super::fetch::fetch_artifacts(&matrix, &args.source, &artifacts)?;
        if let Some(failure) = failures.first() {
            anyhow::bail!("fetching binaries: {failure}");
        }
        fetched
    } else {
        Vec::new()
    };
    let cache = if args.binaries {
        Some(matrix::fetch::Cache::open(&args.source.options(&matrix).cache)?)
    } else {
        None
    };
    let mut records = Vec::new();
    for planned in cells {
        let mut rendered =
            render_cell(&matrix, planned).with_context(|| format!("rendering {}", planned.cell))?;
        if let Some(cache) = &cache {
            for artifact in matrix::fetch::artifacts_for(&matrix, &planned.cell)? {
                if let Some(item) = fetched.iter().find(|f| f.artifact.url == artifact.url) {
                    matrix::fetch::place(&mut rendered.context, item, cache)?;
                }
            }
        }
        let dir = if single {
            args.out.clone()
        } else {
            args.out.join(&planned.image).join(planned.tags.tag.as_str())
        };
        rendered.context.write_to(&dir, args.force)?;
        records.push(CellRecord {
            image: planned.image.clone(),
            tag: planned.tags.tag.to_string(),
            dir,
            files: rendered
                .context
                .entries()
                .map(|(path, entry)| FileRecord {
                    path: path.to_string(),
                    origin: entry.origin.to_string(),
                    mode: format!("{:o}", entry.mode),
                })
                .collect(),
        });
    }
    if args.json {
        print_json(&records)?;
    } else {
        for record in &records {
            println!("{}:{} -> {}", record.image, record.tag, record.dir.display());
            for file in &record.files {
                println!("  {:<44} {}", file.path, file.origin);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
