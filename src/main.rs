//! The `rdbt` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

/// A parse allocates and frees millions of small values from every core;
/// glibc's malloc spent a third of the parse growing and locking its heaps
/// (see the README's performance section).
#[global_allocator]
static ALLOCATOR: rdbt::allocator::Mimalloc = rdbt::allocator::Mimalloc;

fn main() -> ExitCode {
    give_back_freed_memory_promptly();
    ExitCode::from(rdbt::cli::run(std::env::args_os().collect()))
}

/// `mi_option_purge_delay` in mimalloc 3's list of options (the -sys crate
/// has no name for it; a test checks the number).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed pages before giving them back. Its
/// default, a second, outlives a whole parse: the kept pages added 17 MB
/// (12%) to the peak of a 10,000-model parse (155 → 138 MB). Giving them
/// back at once (0) made every freed page a `madvise` and a later page
/// fault: a sixth of that parse's CPU time (0.36 → 0.40 s wall). 10 ms
/// keeps the pages a phase frees for its next allocations and still gives
/// them back between phases (142 MB).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// A `MIMALLOC_PURGE_DELAY` set by the user wins.
fn give_back_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, which mimalloc reads atomically;
        // no other thread exists yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

#[cfg(test)]
mod tests {
    /// Guards the option's number: should an upgrade of mimalloc reorder its
    /// options, it would no longer be the purge delay (whose default in
    /// mimalloc 3 is 1,000 ms, a value no nearby option has).
    #[test]
    fn the_option_set_at_start_is_mimallocs_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            eprintln!("MIMALLOC_PURGE_DELAY is set: its default cannot be checked");
            return;
        }
        // SAFETY: reads one integer option.
        let value = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(value, 1000);
    }
}
