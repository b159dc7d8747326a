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
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only sets allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
