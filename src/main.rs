//! The `rdbt` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

/// A parse allocates and frees millions of small values from every core;
/// glibc's malloc spent a third of the parse growing and locking its heaps
/// (see the README's performance section).
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for plain allocations whenever their alignment is one
/// every mimalloc block already has, as Rust's own `System` allocator asks
/// `malloc`. The `mimalloc` crate asks for an aligned allocation every
/// time, and mimalloc's aligned path took 54 instructions per allocation
/// against the plain path's 20: a 10,000-model parse allocates five
/// million times.
struct Mimalloc;

/// Every mimalloc block of at least this size is aligned to it
/// (`MI_MAX_ALIGN_SIZE`); a smaller block is aligned to its size class,
/// at least its size rounded up to a multiple of eight.
const MIMALLOC_MIN_ALIGN: usize = 16;

fn plain_allocation_is_aligned(layout: std::alloc::Layout) -> bool {
    layout.align() <= MIMALLOC_MIN_ALIGN && layout.align() <= layout.size()
}

// SAFETY: each method hands the layout to mimalloc's matching function;
// plain allocations are used only where `plain_allocation_is_aligned`
// shows mimalloc's guaranteed alignment covers the layout's.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: see the impl's comment.
        unsafe {
            if plain_allocation_is_aligned(layout) {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        // SAFETY: see the impl's comment.
        unsafe {
            if plain_allocation_is_aligned(layout) {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        // SAFETY: see the impl's comment; `new_size` keeps the alignment.
        unsafe {
            if layout.align() <= MIMALLOC_MIN_ALIGN && layout.align() <= new_size {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

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
    use std::alloc::{GlobalAlloc, Layout};

    /// Every layout gets an address aligned as asked, by both paths, and
    /// keeps it when grown; the contents survive the growth.
    #[test]
    fn every_allocation_is_aligned_as_its_layout_asks() {
        let allocator = super::Mimalloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1usize, 3, 8, 12, 16, 24, 40, 48, 72, 100, 1000, 70_000] {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: non-zero sizes; every block is freed by the same allocator.
                unsafe {
                    let ptr = allocator.alloc(layout);
                    assert!(!ptr.is_null());
                    assert_eq!(ptr as usize % align, 0, "size {size}, align {align}");
                    ptr.write_bytes(0xAB, size);
                    let grown = allocator.realloc(ptr, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size}, align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xAB));
                    allocator.dealloc(
                        grown,
                        Layout::from_size_align(size * 3, align).expect("layout"),
                    );
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    allocator.dealloc(zeroed, layout);
                }
            }
        }
    }

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
