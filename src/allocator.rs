//! The process's allocator; the binary installs it (`main.rs`).

/// mimalloc, asked for plain allocations whenever their alignment is one
/// every mimalloc block already has, as Rust's own `System` allocator asks
/// `malloc`. The `mimalloc` crate asks for an aligned allocation every
/// time, and mimalloc's aligned path took 54 instructions per allocation
/// against the plain path's 20: a 10,000-model parse allocates five
/// million times.
pub struct Mimalloc;

/// Every mimalloc block of at least this size is aligned to it
/// (`MI_MAX_ALIGN_SIZE`); a smaller block is aligned to its size class,
/// at least its size rounded up to a multiple of eight.
const MIMALLOC_MIN_ALIGN: usize = 16;

/// Whether a plain block of `size` bytes is aligned to `align`.
// Inlined into the binary's allocation shim, across the crate boundary.
#[inline]
fn plain_block_is_aligned(size: usize, align: usize) -> bool {
    align <= MIMALLOC_MIN_ALIGN && align <= size
}

type PlainAllocation = unsafe extern "C" fn(usize) -> *mut std::ffi::c_void;
type AlignedAllocation = unsafe extern "C" fn(usize, usize) -> *mut std::ffi::c_void;

/// `layout` allocated by `plain` when mimalloc's own alignment covers it,
/// else by `aligned`.
///
/// # Safety
/// As `GlobalAlloc::alloc`: `layout` has a non-zero size.
#[inline]
unsafe fn allocate(
    layout: std::alloc::Layout,
    plain: PlainAllocation,
    aligned: AlignedAllocation,
) -> *mut u8 {
    // SAFETY: both are mimalloc's, given a size and a power-of-two alignment.
    unsafe {
        if plain_block_is_aligned(layout.size(), layout.align()) {
            plain(layout.size()).cast()
        } else {
            aligned(layout.size(), layout.align()).cast()
        }
    }
}

// SAFETY: each method hands the layout to mimalloc's matching function;
// plain allocations are used only where `plain_block_is_aligned`
// shows mimalloc's guaranteed alignment covers the layout's.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: the caller's guarantees are `allocate`'s.
        unsafe { allocate(layout, mi_malloc, mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        // SAFETY: the caller's guarantees are `allocate`'s.
        unsafe { allocate(layout, mi_zalloc, mi_zalloc_aligned) }
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
            if plain_block_is_aligned(new_size, layout.align()) {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
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
}
