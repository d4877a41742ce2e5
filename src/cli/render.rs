//! `matrix render`: write the build context of the cells a tag selects.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use matrix::render::render_cell;

use super::output::print_json;
use super::plan::{SelectArgs, load_plan};

/// Arguments of `matrix render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Output folder. With --cri and --arch selecting one cell the context
    /// goes here; otherwise each cell goes to OUT/<image>/<tag>/.
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

/// `matrix render`.
pub fn run(matrix_path: &Path, args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (matrix, plan) = load_plan(matrix_path)?;
    let cells = args.select.cells(&plan)?;
    let filters = &args.select.filters;
    let single = !filters.cri.is_empty() && !filters.arch.is_empty() && cells.len() == 1;
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
