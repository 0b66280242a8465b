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
            let _ = e.print();
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
