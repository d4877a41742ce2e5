//! `matrix sbom`: print one per-arch image's SBOM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use matrix::TagSelector;
use matrix::oci::{RefName, Store};
use matrix::pipeline::{sbom, sbom_rows};

use super::output::print_json;
use super::{Outcome, UsageError, load_plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// The SPDX 2.3 JSON document as stored.
    Spdx,
    /// One line per package: name, version, sha256, where it came from.
    Table,
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// A per-arch tag (`kubernetes:v1.24.4-4.2.1-amd64`; any form that
    /// selects exactly one cell).
    tag: TagSelector,
    /// The OCI layout the build wrote.
    #[arg(long, default_value = "out/oci")]
    from: PathBuf,
    #[arg(long, value_enum, default_value = "spdx")]
    format: SbomFormat,
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
    let store = Store::open_existing(&args.from)?;
    let document = sbom(&store, &RefName::new(&cell.image, &cell.tags.tag))?;
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
