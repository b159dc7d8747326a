//! The `persona` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() {
    // A bug must not show a user a Rust panic dump: one sentence, exit code 2.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("internal error: {msg}{place}; please report it");
    }));
    keep_freed_memory();
    let cli = persona::cli::Cli::parse();
    // Planning a deep view stack recurses deeply, most of all in a debug build and on a cluster
    // node, which decodes and re-plans whole queries: 2 MiB worker stacks overflowed there.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the query runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(persona::cli::run(cli));
    // Leave without waiting for idle runtime threads.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// Keeps memory a query frees for the next batches instead of handing it back to the kernel.
///
/// Arrow allocates fresh buffers for every batch. glibc serves large ones by `mmap` and
/// returns freed memory at the top of a heap past 128 KiB, so a scan faults in and zeroes new
/// pages for every batch: page faults, `clear_page` and `munmap` took about 15% of a scan's
/// CPU time. With the `mmap` threshold at 32 MiB and the trim threshold at 128 MiB, a
/// retention query over 20M events went from 0.418 s to 0.387 s for 10% more peak memory, a
/// funnel from 0.993 s to 0.961 s for 14% more (medians of 7; `benches/README.md`).
///
/// And one heap (arena) per core, not glibc's eight: each thread that allocates takes an arena
/// of its own, and what it frees stays in that arena for its next allocations only. Ingest's
/// readers, writers and spilling sorts run on many threads, and `persona ingest web_events` of
/// 300,000 raw customers under a 600 MB limit peaked at 1.66 GB with the default, 0.99 GB with
/// two arenas on two cores, in 63.6 s and 50.8 s; a refresh of 1M customers took 35.2 s and
/// 34.0 s, at 2.98 and 2.85 GB.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX);
        #[allow(unsafe_code)]
        // SAFETY: `mallopt` only sets allocator parameters; it is called before any thread
        // starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
