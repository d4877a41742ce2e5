//! `matrix report`: the compatibility grid as JSON or one HTML page.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use matrix::oci::Store;
use matrix::pipeline::{report, report_html};

use super::args::{RegistryArgs, targets};
use super::output::print_json;
use super::{Context as _, Outcome, UsageError, load_plan};

/// Arguments of `matrix report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Compare with REGISTRY/NAMESPACE (published, missing, lag); repeatable.
    /// Parsed by the command, so a mistyped `user:pw@host` is never echoed.
    #[arg(long)]
    registry: Vec<String>,
    /// The local OCI layout, for stale detection against the first registry.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Write the page here (self-contained HTML).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    access: RegistryArgs,
}

/// `matrix report`.
pub fn run(path: &Path, args: &ReportArgs) -> Outcome {
    if args.html.is_none() && !args.json {
        return Err(UsageError("say where the report goes: --html FILE and/or --json".into()).into());
    }
    let (matrix, plan) = load_plan(path)?;
    let targets = targets(&args.registry)?;
    let client = if targets.is_empty() {
        None
    } else {
        Some(args.access.client()?)
    };
    let store = match &args.from {
        Some(dir) => Some(Store::open_existing(dir)?),
        None => None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let made = report(
        &matrix,
        &plan,
        client.as_ref(),
        &targets,
        store.as_ref(),
        matrix::oci::rfc3339(now),
    )?;
    if let Some(file) = &args.html {
        matrix::fsutil::write_atomic(file, report_html(&made).as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
        if !args.json {
            let cells: usize = made.images.iter().map(|i| i.counts.values().sum::<usize>()).sum();
            println!(
                "{}: {} images, {cells} grid cells",
                file.display(),
                made.images.len()
            );
        }
    }
    if args.json {
        print_json(&made)?;
    }
    Ok(ExitCode::SUCCESS)
}
