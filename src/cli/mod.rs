//! The `rdbt` command line: parses flags, runs one command, returns the exit
//! code (0 ok, 1 a model or test failed, 2 usage, project or internal error).
//! One file per command under `commands/`.

mod args;
mod commands;
mod printer;
mod session;
mod unchanged;

use clap::Parser;
use session::Failure;

/// Exit codes, as dbt uses them.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Runs rdbt with `argv` (program name first) and returns the exit code.
pub fn run(argv: Vec<std::ffi::OsString>) -> u8 {
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            match unknown_command_message(&e) {
                Some(message) => eprint!("{message}"),
                None => {
                    let _ = e.print();
                }
            }
            return code;
        }
    };
    let result = commands::dispatch(&cli);
    match result {
        Ok(code) => code,
        Err(Failure::BrokenPipe) => EXIT_OK,
        Err(Failure::Reported) => EXIT_ERROR,
    }
}

/// dbt's commands that rdbt does not have yet (each with what to do
/// instead).
const DBT_COMMANDS_MISSING: &[(&str, &str)] = &[];

/// Clap's text for an unknown subcommand, except where it would mislead: a
/// dbt command rdbt lacks gets a plain answer, and a command that deletes
/// something (`clean`) is never offered as the "similar" one.
fn unknown_command_message(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    if let Some((_, why)) = DBT_COMMANDS_MISSING.iter().find(|(name, _)| name == given) {
        return Some(format!(
            "error: {why}\n\nFor the commands rdbt has, try 'rdbt --help'.\n"
        ));
    }
    let suggests_clean = matches!(
        e.get(ContextKind::SuggestedSubcommand),
        Some(ContextValue::Strings(s)) if s.iter().any(|s| s == "clean")
    ) || matches!(
        e.get(ContextKind::SuggestedSubcommand),
        Some(ContextValue::String(s)) if s == "clean"
    );
    suggests_clean.then(|| {
        format!(
            "error: unrecognized subcommand '{given}'\n\nUsage: rdbt [OPTIONS] <COMMAND>\n\nFor the commands rdbt has, try 'rdbt --help'.\n"
        )
    })
}
