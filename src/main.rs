//! The `rdbt` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

/// A parse allocates and frees millions of small values from every core;
/// glibc's malloc spent a third of the parse growing and locking its heaps
/// (see the README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(rdbt::cli::run(std::env::args_os().collect()))
}
