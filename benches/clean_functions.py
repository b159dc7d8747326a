#!/usr/bin/env python3
"""Throughput of the cleaning functions against DataFusion's built-ins on the same column,
through SQL in the release binary.

    /tmp/bv/bin/python benches/clean_functions.py [--rows 2000000] [--runs 5]

Needs a release build (`cargo build --release`) and the PyPI package duckdb, which writes the
columns once into a Parquet file: mixed date spellings, ISO dates (to_date reads only those),
phone numbers in the spellings of `persona gen --raw` (a column of eight numbers repeated,
which the writer dictionary-encodes so that the scan and `trim` touch eight strings, and a
column of distinct numbers, as a customer table has), and names and addresses with full-width
and extra spaces. Each query aggregates the function's result over the whole column (so every
value is computed and nothing is printed), in one persona process with its query time taken
from persona's own footer; each function and its built-in run in turn, --runs times after a
warm-up: medians, rows per second, and the median of the runs' ratios to the built-in. The
criterion benches in benches/functions.rs measure the same functions on Arrow arrays without
the Parquet scan (`cargo bench --bench functions -- std_`).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"

GEN = r"""
COPY (
  SELECT
    ['2024-03-05', '2024/3/5', '2024年3月5日', '03/05/2024', '20240305', '2024-03-05 14:30:00',
     'Mar 5, 2024', '45356', '1709620200', 'N/A'][(i % 10)::BIGINT + 1] AS mixed_date,
    strftime(DATE '2020-01-01' + (i % 1500)::INT, '%Y-%m-%d') AS iso_date,
    ['13812345678', '+86 139-1234-5678', '0086 150 0000 1111', '186 1234 5678', '010-12345678',
     '0755-8888 6666', '12345', '１３８１２３４５６７８'][(i % 8)::BIGINT + 1] AS phone,
    ['Zhang Wei', '  zhang   wei ', '深圳市南山区科技园', 'ＡＢＣ　公司', 'already clean text',
     'tab' || chr(9) || 'and newline'][(i % 6)::BIGINT + 1] || (i % 1000)::VARCHAR AS text,
    CASE i % 8
      WHEN 0 THEN p || s
      WHEN 1 THEN '+86 ' || p || '-' || s[1:4] || '-' || s[5:8]
      WHEN 2 THEN '0086 ' || p || ' ' || s[1:4] || ' ' || s[5:8]
      WHEN 3 THEN p || ' ' || s[1:4] || ' ' || s[5:8]
      WHEN 4 THEN '010-' || l
      WHEN 5 THEN '0755-' || l[1:4] || ' ' || l[5:8]
      WHEN 6 THEN s[1:5]
      ELSE translate(p || s, '0123456789', '０１２３４５６７８９')
    END AS phone_distinct
  FROM (
    SELECT i,
      ['138', '139', '150', '186', '187', '135', '158', '131'][(hash(i) % 8)::BIGINT + 1] AS p,
      lpad((hash(i * 31) % 100000000)::VARCHAR, 8, '0') AS s,
      (20000000 + hash(i * 17) % 70000000)::VARCHAR AS l
    FROM range({rows}) r(i)
  )
) TO '{path}' (FORMAT parquet);
"""

PAIRS = [
    ("std_date, mixed spellings", "count(std_date(mixed_date))", "count(trim(mixed_date))", "trim"),
    ("std_date, ISO dates", "count(std_date(iso_date))", "count(to_date(iso_date))", "to_date"),
    ("std_timestamp, mixed", "count(std_timestamp(mixed_date))", "count(trim(mixed_date))", "trim"),
    ("std_phone", "count(std_phone(phone))", "count(trim(phone))", "trim"),
    ("std_phone", "count(std_phone(phone))", "count(lower(phone))", "lower"),
    ("std_phone, distinct numbers", "count(std_phone(phone_distinct))",
     "count(trim(phone_distinct))", "trim"),
    ("std_text", "count(std_text(text))", "count(trim(text))", "trim"),
    ("std_text", "count(std_text(text))", "count(lower(text))", "lower"),
]


def query_seconds(project: Path, expr: str) -> float:
    sql = f"SELECT {expr} FROM t"
    p = subprocess.run([str(PERSONA), "--project", str(project), "-c", sql],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{sql}: {p.stderr}")
    return float(re.search(r"· ([0-9.]+) s\s*$", p.stdout).group(1))


def paired(project: Path, ours: str, builtin: str, runs: int):
    """Medians of `runs` runs of each query after a warm-up, the two taken in turn so that the
    machine's slow and quick spells fall on both; and the median of the runs' ratios."""
    pairs = [(query_seconds(project, ours), query_seconds(project, builtin))
             for _ in range(runs + 1)][1:]
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(a / b for a, b in pairs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-clean"))
    args = ap.parse_args()
    import duckdb
    if not PERSONA.is_file():
        sys.exit(f"{PERSONA} is missing: run `cargo build --release` first")
    project = args.data / f"r{args.rows}"
    project.mkdir(parents=True, exist_ok=True)
    # Named for the columns it holds: a file from an older column list is not read.
    data = project / "clean-v2.parquet"
    if not data.is_file():
        duckdb.sql(GEN.format(rows=args.rows, path=str(data) + ".tmp"))
        os.replace(str(data) + ".tmp", data)
    (project / "persona.toml").write_text(
        f'[[source]]\nname = "t"\npath = "{data.name}"\nformat = "parquet"\n')
    print(f"{args.rows:,} rows; query seconds, median of {args.runs}")
    for name, ours, builtin, bname in PAIRS:
        a, b, ratio = paired(project, ours, builtin, args.runs)
        print(f"  {name:<28} {a:6.3f} s {args.rows / a / 1e6:6.1f} M rows/s | {bname:<8} {b:6.3f} s"
              f" {args.rows / b / 1e6:6.1f} M rows/s | ratio {ratio:5.2f}")


if __name__ == "__main__":
    main()
