//! glibc's allocator, tuned for a PID 1 that runs for months: one arena,
//! and freed memory given back to the kernel after big transient work
//! (reading a 1,000 × 10 config, an IPVS dump, a 30 MB scrape).
//!
//! Left alone, glibc gives every thread that allocates an arena of its
//! own (up to eight per CPU: the director, the management thread, each
//! blocking-pool thread), and keeps what is freed in each of them: PID 1
//! then holds the peak of every arena for good. One arena for all makes
//! the peaks share their pages; [`trim`] returns the free pages (in the
//! middle of the heap too, not only at its top).
//!
//! Off glibc (musl, or another libc) both are no-ops.

/// Set the allocator's limits. Call it before any thread is started:
/// arenas already made stay.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::libc::{M_ARENA_MAX, M_MMAP_THRESHOLD, mallopt};
        // SAFETY: mallopt only sets allocator parameters; it touches no
        // memory of ours, and no other thread exists yet to race it.
        unsafe {
            // Every thread allocates from the main arena.
            mallopt(M_ARENA_MAX, 1);
            // Blocks of 256 KiB and more (a big table's vectors, a
            // dump's) get pages of their own, given back when freed.
            // Fixed: glibc's default threshold grows with what was freed,
            // and then keeps big blocks in the heap.
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Blocks at least this big are mapped on their own (see [`tune`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: nix::libc::c_int = 256 * 1024;

/// Give the heap's free pages back to the kernel. For after big transient
/// work; it costs a walk over the free blocks (and the pages, when used
/// again, a fault each).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory the allocator holds;
    // it takes the allocator's locks itself.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both are safe to call at any time, on any thread, as often as
    /// wanted; what was allocated stays intact.
    #[test]
    fn tune_and_trim_keep_memory_intact() {
        let kept: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 10_000]).collect();
        tune();
        let freed: Vec<Vec<u8>> = (0..100).map(|_| vec![7; 50_000]).collect();
        drop(freed);
        std::thread::spawn(trim).join().unwrap();
        trim();
        for (i, v) in kept.iter().enumerate() {
            assert!(v.iter().all(|&b| b == i as u8));
        }
    }
}
