#!/usr/bin/env python3
"""Profile build benchmark: the product's own path at several sizes. For each size, a project
from `persona gen --customers N`, then in fresh processes:

- `persona refresh --as-of DATE`: every model built once, the four snapshot files written;
- `persona refresh` again under `--memory-limit` (default 2GB);
- `persona -c "SELECT * FROM customer_360" -o c360.parquet`: the view analysts start from, in a
  process that computes everything it needs;
- the same with `SET persona.model_cache = false` (DataFusion's inlining: every reference
  computes its view again) when --inline is given, at the sizes up to --inline-max.

    python3 benches/profile_build.py [--sizes 30000,100000,300000,1000000] [--runs 1]
                                     [--data /tmp/persona-bench-profile] [--memory-limit 2GB]

With --ingest, only `persona ingest` is measured instead, on a raw project per size (--data/raw-N,
from `persona gen --raw --customers N`, kept for later runs), DIR/curated deleted before each run
so every run ingests from scratch:

- `persona --project DIR -q ingest`;
- the same under `--memory-limit` (`persona --project DIR -q --memory-limit SIZE ingest`).

    python3 benches/profile_build.py --ingest [--sizes 30000,100000,300000,1000000] [--runs 1]
                                     [--data /tmp/persona-bench-profile] [--memory-limit 2GB]

The table also gives the size of DIR/raw (MB of 10^6 bytes); after it, one line per pair of
consecutive sizes with the ratios of raw size, time and peak memory of the default run.

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR).
Times are whole-process wall seconds (medians of --runs), peak memory the largest resident set
of the process (`/usr/bin/time -v`), printed as a Markdown table.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"
AS_OF = "2024-12-31"


def timed(args, cwd):
    """Runs args under /usr/bin/time -v; returns (seconds, peak MiB)."""
    start = time.monotonic()
    out = subprocess.run(
        ["/usr/bin/time", "-v", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    return seconds, int(peak.group(1)) / 1024 if peak else float("nan")


def project(data, n):
    path = Path(data) / f"c{n}"
    if not (path / "persona.toml").exists():
        print(f"generating {n} customers in {path}", file=sys.stderr)
        subprocess.run([PERSONA, "gen", "--customers", str(n), "--out", path], check=True)
    return path


def raw_project(data, n):
    path = Path(data) / f"raw-{n}"
    if not (path / "persona.toml").exists():
        print(f"generating {n} raw customers in {path}", file=sys.stderr)
        subprocess.run([PERSONA, "gen", "--raw", "--customers", str(n), "--out", path],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def measure(cmd, cwd, runs, before=None):
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(timed(cmd, cwd))
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def ingest_main(args):
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        p = raw_project(args.data, n)
        raw_mb = sum(f.stat().st_size for f in (p / "raw").rglob("*") if f.is_file()) / 1e6
        clear = lambda: shutil.rmtree(p / "curated", ignore_errors=True)
        ingest = measure([PERSONA, "--project", p, "-q", "ingest"], p, args.runs, clear)
        limited = measure(
            [PERSONA, "--project", p, "-q", "--memory-limit", args.memory_limit, "ingest"],
            p,
            args.runs,
            clear,
        )
        rows.append((n, raw_mb, ingest, limited))
        print(f"{n}: raw {raw_mb:.0f} MB, ingest {ingest}, limited {limited}", file=sys.stderr)
    print(f"| customers | raw MB | `persona ingest` s | peak MiB "
          f"| under --memory-limit {args.memory_limit} s | peak MiB |")
    print("|---|---|---|---|---|---|")
    for n, mb, (s, m), (ls, lm) in rows:
        print(f"| {n:,} | {mb:.0f} | {s:.1f} | {m:.0f} | {ls:.1f} | {lm:.0f} |")
    print()
    for (n0, mb0, (s0, m0), _), (n1, mb1, (s1, m1), _) in zip(rows, rows[1:]):
        print(f"{n0:,} -> {n1:,}: data x{mb1 / mb0:.1f}, time x{s1 / s0:.1f}, peak x{m1 / m0:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="30000,100000,300000,1000000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--data", default="/tmp/persona-bench-profile")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--inline", action="store_true")
    ap.add_argument("--inline-max", type=int, default=100000)
    ap.add_argument("--ingest", action="store_true")
    args = ap.parse_args()
    if not PERSONA.exists():
        sys.exit(f"{PERSONA} is missing: run `cargo build --release` first")
    if args.ingest:
        return ingest_main(args)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        p = project(args.data, n)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "c360.parquet"
            refresh = measure([PERSONA, "refresh", "-q", "--as-of", AS_OF], p, args.runs)
            limited = measure(
                [PERSONA, "--memory-limit", args.memory_limit, "refresh", "-q", "--as-of", AS_OF],
                p,
                args.runs,
            )
            c360 = measure([PERSONA, "-c", "SELECT * FROM customer_360", "-o", out], p, args.runs)
            inline = None
            if args.inline and n <= args.inline_max:
                inline = measure(
                    [PERSONA, "-c", "SET persona.model_cache = false", "-c",
                     "SELECT * FROM customer_360", "-o", out],
                    p,
                    args.runs,
                )
        rows.append((n, refresh, limited, c360, inline))
        print(f"{n}: refresh {refresh}, limited {limited}, c360 {c360}, inline {inline}", file=sys.stderr)
    print(f"| customers | refresh s | peak MiB | refresh at {args.memory_limit} s | peak MiB "
          "| customer_360 -o s | peak MiB | inlined views s |")
    print("|---|---|---|---|---|---|---|---|")
    for n, (rs, rm), (ls, lm), (cs, cm), inline in rows:
        inl = f"{inline[0]:.1f}" if inline else "-"
        print(f"| {n:,} | {rs:.1f} | {rm:.0f} | {ls:.1f} | {lm:.0f} | {cs:.1f} | {cm:.0f} | {inl} |")


if __name__ == "__main__":
    main()
