//! Process-wide allocator settings for tensor work on the CPU.
//!
//! candle allocates a fresh buffer for every op's output and frees it soon after. With glibc's defaults, buffers
//! above a moving threshold (128 KiB at start) come from `mmap` and go back with `munmap`, so the kernel zeroes
//! every page of every activation again: on two cores that was 20–25% of a training step (`perf`: most samples in
//! `clear_page_erms`) and 12 of 72 seconds of an eval run in system time. Serving them from the heap and keeping
//! freed memory for reuse removes most of that (5.8 s) at some peak memory (measured on an 8-clip eval: 245 MB
//! against 218).
//! A leaf module with no dependencies; `main` calls it once, before any thread starts.

/// Serve allocations up to glibc's largest mmap threshold (32 MiB) from the heap and keep up to 512 MiB of freed
/// heap memory instead of returning it to the system at once. Returns whether glibc took both settings (`false`
/// on other C libraries and operating systems, where nothing is changed).
pub fn reuse_freed_memory() -> bool {
    imp::reuse_freed_memory()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // audited: one foreign function, each call with its SAFETY comment
mod imp {
    use std::ffi::c_int;

    // <malloc.h>
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;
    /// glibc refuses a larger mmap threshold than half its heap size, 32 MiB on 64-bit targets.
    const MMAP_THRESHOLD: c_int = 32 << 20;
    const TRIM_THRESHOLD: c_int = 512 << 20;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub fn reuse_freed_memory() -> bool {
        // SAFETY: mallopt only changes malloc's tuning parameters; it is safe to call at any time with any
        // value (it returns 0 for one it refuses).
        let mmap = unsafe { mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        // SAFETY: as above.
        let trim = unsafe { mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) };
        mmap == 1 && trim == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn reuse_freed_memory() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_both_settings() {
        assert!(super::reuse_freed_memory());
        // A buffer between the default threshold and the new one still allocates and frees normally.
        let buffer = vec![1u8; 8 << 20];
        assert_eq!(buffer.iter().map(|&b| b as usize).sum::<usize>(), 8 << 20);
    }
}
