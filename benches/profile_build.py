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

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR).
Times are whole-process wall seconds (medians of --runs), peak memory the largest resident set
of the process (`/usr/bin/time -v`), printed as a Markdown table.
"""

import argparse
import os
import re
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


def measure(cmd, cwd, runs):
    results = [timed(cmd, cwd) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="30000,100000,300000,1000000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--data", default="/tmp/persona-bench-profile")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--inline", action="store_true")
    ap.add_argument("--inline-max", type=int, default=100000)
    args = ap.parse_args()
    if not PERSONA.exists():
        sys.exit(f"{PERSONA} is missing: run `cargo build --release` first")
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
