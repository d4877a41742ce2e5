//! `matrix chatops parse`: the issue-comment parser of the ChatOps workflow.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use matrix::chatops::parse;

use super::output::print_json;
use super::{Outcome, UsageError};

/// `matrix chatops ...`.
#[derive(Debug, Subcommand)]
pub enum ChatopsCommand {
    /// Read a comment on stdin; print `kind=` and `name=`, `version=` (or
    /// `args=` for k8s selections) lines
    /// (for $GITHUB_OUTPUT) or JSON. Exit 2 when it is not a safe command.
    Parse(ParseArgs),
}

/// Arguments of `matrix chatops parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The title; `【Auto-build】NAME` must name the same application.
    #[arg(long)]
    title: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Most comment bytes read.
const MAX_COMMENT: u64 = 64 * 1024;

/// Runs a chatops subcommand.
pub fn run(command: &ChatopsCommand) -> Outcome {
    let ChatopsCommand::Parse(args) = command;
    let mut body = String::new();
    std::io::stdin()
        .take(MAX_COMMENT)
        .read_to_string(&mut body)
        .map_err(|e| UsageError(format!("reading the comment on stdin: {e}")))?;
    let parsed = parse(&body, args.title.as_deref())?;
    if args.json {
        print_json(&parsed)?;
    } else {
        let kind = parsed.kind.word();
        if parsed.kind.is_selection() {
            println!("kind={kind}\nargs={}", parsed.args.join(" "));
        } else {
            println!("kind={kind}\nname={}\nversion={}", parsed.name, parsed.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}
