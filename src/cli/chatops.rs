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
    /// Read the rebuild schedule (one `KIND NAME VERSION` a line); print
    /// `KIND NAME VERSION` lines or JSON. Exit 2 on a bad line.
    Schedule(ScheduleArgs),
}

/// Arguments of `matrix chatops schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The schedule file.
    #[arg(default_value = "schedule.txt")]
    file: std::path::PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
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
    let args = match command {
        ChatopsCommand::Parse(args) => args,
        ChatopsCommand::Schedule(args) => return run_schedule(args),
    };
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

fn run_schedule(args: &ScheduleArgs) -> Outcome {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| UsageError(format!("reading {}: {e}", args.file.display())))?;
    let commands =
        matrix::chatops::schedule(&text).map_err(|e| UsageError(format!("{}: {e}", args.file.display())))?;
    if args.json {
        print_json(&commands)?;
    } else {
        for command in &commands {
            println!("{} {} {}", command.kind.word(), command.name, command.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}
