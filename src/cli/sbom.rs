//! `matrix sbom`: print one per-arch image's SBOM, from the build's layout
//! or from a registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use matrix::TagSelector;
use matrix::pipeline::{VerifySource, image_sbom, sbom_rows};

use super::args::{CacheArg, RegistryArgs, target};
use super::output::print_json;
use super::{Outcome, UsageError, load_plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// The SPDX 2.3 JSON document as stored.
    Spdx,
    /// One line per package: name, version, sha256, where it came from.
    Table,
}

/// Arguments of `matrix sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// A per-arch tag (`kubernetes:v1.24.4-4.2.1-amd64`; any form that
    /// selects exactly one cell).
    tag: TagSelector,
    /// The OCI layout the build wrote.
    #[arg(long, default_value = "out/oci", conflicts_with = "registry")]
    from: PathBuf,
    /// Read the SBOM from a registry instead: REGISTRY/NAMESPACE (its
    /// referrers API, or the `sha256-<digest>` fallback tag). Parsed by
    /// the command, not clap, so a mistyped `user:pw@host` is never echoed.
    #[arg(long)]
    registry: Option<String>,
    #[arg(long, value_enum, default_value = "spdx")]
    format: SbomFormat,
    #[command(flatten)]
    cache: CacheArg,
    #[command(flatten)]
    access: RegistryArgs,
}

pub fn run(path: &Path, args: &SbomArgs) -> Outcome {
    let (_, plan) = load_plan(path)?;
    let cells = plan.select(&args.tag);
    let [cell] = cells.as_slice() else {
        let names: Vec<String> = cells
            .iter()
            .map(|c| format!("{}:{}", c.image, c.tags.tag))
            .collect();
        return Err(UsageError(format!(
            "`{}` selects {} images{}; name one per-arch tag",
            args.tag,
            cells.len(),
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        ))
        .into());
    };
    let client;
    let source = match &args.registry {
        Some(text) => {
            client = args.access.client()?;
            VerifySource::Registry {
                client: &client,
                target: target(text)?,
                cache: args.cache.dir(),
            }
        }
        None => VerifySource::Store(args.from.clone()),
    };
    let document = image_sbom(&source, &cell.image, cell.tags.tag.as_str())?;
    match args.format {
        SbomFormat::Spdx => print_json(&document)?,
        SbomFormat::Table => {
            for row in sbom_rows(&document) {
                println!("{}\t{}\t{}\t{}", row.name, row.version, row.sha256, row.location);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
