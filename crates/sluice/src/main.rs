//! `sluice`: the command-line tool for Sluice's embedded event log.
//!
//! # Layout
//! - `cli`: the clap types (flags, defaults, help text).
//! - `cmd`: one module per subcommand (`topic`, `produce`, `consume`, `gen`, `demo`, `run` and
//!   `explain`, `savepoint`) and the helpers
//!   they share for opening the data directory.
//! - `json_line`: the one-pass JSON validation and field extraction `produce` runs per line.
//!
//! This file parses the command line, sets up logging (stderr, `RUST_LOG`, default `warn`),
//! dispatches, and turns an error into `error: <message and causes>` with exit status 1. Clap
//! exits with status 2 on bad flags. A closed stdout (`sluice consume ... | head`) is not an
//! error.

mod cli;
mod cmd;
mod json_line;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, GenCommand};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    // `demo` uses a temporary data dir unless one was given (flag or environment).
    let data_dir_given = matches
        .value_source("data_dir")
        .is_some_and(|s| matches!(s, ValueSource::CommandLine | ValueSource::EnvVariable));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging();
    match run(cli, data_dir_given) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): everything it wanted was written.
        Err(e) if cmd::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_message(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, data_dir_given: bool) -> anyhow::Result<()> {
    let dir = cli.data_dir.as_path();
    match cli.command {
        Command::Topic(c) => cmd::topic::run(dir, c),
        Command::Produce(args) => cmd::produce::run(dir, &args),
        Command::Consume(args) => cmd::consume::run(dir, &args),
        Command::Gen(GenCommand::PageViews(args)) => cmd::gen::page_views(&args),
        Command::Demo(args) => cmd::demo::run(data_dir_given.then_some(dir), &args),
        Command::Run(args) => cmd::run::run(dir, &args),
        Command::Explain(args) => cmd::run::explain(&args),
        Command::Savepoint(args) => cmd::savepoint::request(dir, &args),
    }
}

/// The error and its causes, joined by `: ` like anyhow's `{:#}`, but leaving out a cause whose
/// text its parent already ends with (`LogError::Io` prints its `io::Error` and also returns it
/// as its source).
fn error_message(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// Logs go to stderr so that they never mix with records on stdout.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_skip_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let log = sluice_log::LogError::Io { path: "/d".into(), source: io };
        let e = anyhow::Error::new(log).context("cannot open /d");
        assert_eq!(error_message(&e), "cannot open /d: /d: gone");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&e), "outer: inner");
    }
}
