//! `matrix verify`: check built images against the contract.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use matrix::pipeline::{VerifySource, select, verify};

use super::args::{CacheArg, RegistryArgs, SelectArgs, target};
use super::output::print_json;
use super::progress::reporter;
use super::{Outcome, UsageError, load_plan};

/// Arguments of `matrix verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// The OCI layout the images were built into.
    #[arg(long, default_value = "out/oci", conflicts_with = "registry")]
    from: PathBuf,
    /// Verify what a registry holds instead: REGISTRY/NAMESPACE.
    /// Parsed by the command, not clap, so a mistyped `user:pw@host` is
    /// never echoed back.
    #[arg(long)]
    registry: Option<String>,
    #[command(flatten)]
    cache: CacheArg,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix verify`: exit 0 when every image meets the contract, 1 if any
/// has a defect.
pub fn run(path: &Path, args: &VerifyArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let cells = select(&matrix, &plan, &args.select.selection(), None)?;
    let client = args.access.client()?;
    let source = match &args.registry {
        Some(text) => VerifySource::Registry {
            client: &client,
            target: target(text)?,
            cache: args.cache.dir(),
        },
        None => {
            if !args.from.join("index.json").is_file() {
                return Err(UsageError(format!(
                    "{} is not an OCI image layout (no index.json); build first or pass --from",
                    args.from.display()
                ))
                .into());
            }
            VerifySource::Store(args.from.clone())
        }
    };
    let progress = reporter(cells.len(), "verify");
    let report = verify(&matrix, &cells, &source, progress.as_ref())?;
    drop(progress);
    if args.json {
        print_json(&report)?;
    } else {
        for image in &report.images {
            if image.defects.is_empty() {
                println!("ok\t{}:{}", image.image, image.tag);
            } else {
                println!(
                    "FAIL\t{}:{}\t{} defects",
                    image.image,
                    image.tag,
                    image.defects.len()
                );
                for defect in &image.defects {
                    println!("\t{}: {}", defect.path, defect.problem);
                }
            }
        }
        println!("{} passed, {} failed", report.passed, report.failed);
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
