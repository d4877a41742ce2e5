//! `matrix render`: write the build context of the cells a tag selects.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use matrix::pipeline::{RenderRequest, render_contexts, select};

use super::args::{SelectArgs, SourceArgs};
use super::output::print_json;
use super::{Outcome, load_plan};

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
    source: SourceArgs,
    /// Print the file list as JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix render`.
pub fn run(matrix_path: &Path, args: &RenderArgs) -> Outcome {
    let (matrix, plan) = load_plan(matrix_path)?;
    let cells = select(&matrix, &plan, &args.select.selection(), None)?;
    let filters = &args.select.filters;
    let single = !filters.cri.is_empty() && !filters.arch.is_empty() && cells.len() == 1;
    let request = RenderRequest {
        out: args.out.clone(),
        single,
        force: args.force,
        binaries: args.binaries.then(|| args.source.options(&matrix)).transpose()?,
    };
    let records = render_contexts(&matrix, &cells, &request, &super::progress::Terminal)?;
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
