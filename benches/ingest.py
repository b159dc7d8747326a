#!/usr/bin/env python3
"""Ingest benchmark: raw order CSV to curated Parquet with the cleaning applied, persona
against DuckDB doing the same read-clean-write.

    /tmp/bv/bin/python benches/ingest.py [--rows 10000000] [--runs 3] [--data DIR]

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR)
and the PyPI package duckdb (`python3 -m venv /tmp/bv && /tmp/bv/bin/pip install duckdb`).

The data: `--rows` order rows in the shape of `persona gen --raw`'s `raw/orders.csv`
(order_no, crm_id, order_time, amount, status, channel), written once by DuckDB into --data:
order times in six spellings (`2024/3/5 14:30`, `2024年3月5日 14时30分`, epoch seconds, epoch
milliseconds, ISO 8601 with +08:00, `2024-03-05 14:30:00`), amounts in four (`¥1,234.50`,
`RMB 300.00`, `300.00元`, `300.00`), statuses in Chinese or English.

The work, the same on both sides: read every row, turn the time into a UTC timestamp (local
times are Beijing time), the amount into DECIMAL(18, 2), the status into its English word, and
write the rows to one zstd Parquet file.

- persona: `persona ingest` on a project whose source declares the cleaning with
  `std_timestamp`, `std_amount` and a CASE (no key, no dedup, no rules: DuckDB's statement has
  none either). Its output also carries each row's file and line.
- DuckDB: `COPY (SELECT … FROM read_csv(…, all_varchar = true)) TO … (FORMAT parquet)`, with the
  times parsed by `try_strptime` over the six spellings and the epochs, the amounts by
  `regexp_replace` and a cast.

Whole-process wall times, medians of --runs runs after one warm-up, tools in turn, and the
ratio persona / DuckDB. The two outputs are checked equal: row count, rows with a time, the sum
of the amounts, the sum of the times' epoch seconds, and the count per status.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"

GEN_SQL = r"""
COPY (
  WITH t AS (
    SELECT i,
      TIMESTAMP '2023-01-01 00:00:00' + to_seconds((hash(i) % 47304000)::BIGINT) AS ts,
      (hash(i * 7) % 200000)::BIGINT + 100 AS cents,
      (hash(i * 13) % 6)::BIGINT AS tf, (hash(i * 17) % 4)::BIGINT AS af, (hash(i * 19) % 5)::BIGINT AS sf
    FROM range({rows}) r(i)
  )
  SELECT
    printf('SO%012d', i) AS order_no,
    printf('%010d', hash(i * 3) % 10000000000) AS crm_id,
    CASE tf
      WHEN 0 THEN strftime(ts, '%Y/%-m/%-d %H:%M')
      WHEN 1 THEN strftime(ts, '%Y年%-m月%-d日 %-H时%-M分')
      WHEN 2 THEN (epoch(ts)::BIGINT - 28800)::VARCHAR
      WHEN 3 THEN ((epoch(ts)::BIGINT - 28800) * 1000)::VARCHAR
      WHEN 4 THEN strftime(ts, '%Y-%m-%dT%H:%M:%S+08:00')
      ELSE strftime(ts, '%Y-%m-%d %H:%M:%S')
    END AS order_time,
    CASE af
      WHEN 0 THEN '¥' || format('{{:,}}', cents // 100) || '.' || lpad((cents % 100)::VARCHAR, 2, '0')
      WHEN 1 THEN 'RMB ' || (cents // 100)::VARCHAR || '.' || lpad((cents % 100)::VARCHAR, 2, '0')
      WHEN 2 THEN (cents // 100)::VARCHAR || '.' || lpad((cents % 100)::VARCHAR, 2, '0') || '元'
      ELSE (cents // 100)::VARCHAR || '.' || lpad((cents % 100)::VARCHAR, 2, '0')
    END AS amount,
    ['已完成', 'completed', 'COMPLETED', '已退款', 'shipped'][sf + 1] AS status,
    ['app', 'web', 'mini_program', 'store'][(hash(i * 23) % 4)::BIGINT + 1] AS channel
  FROM t
) TO '{path}' (HEADER, DELIMITER ',');
"""

DUCK_SQL = r"""
COPY (
  SELECT order_no, crm_id,
    CASE
      WHEN regexp_full_match(order_time, '[0-9]{{13}}') THEN make_timestamp(order_time::BIGINT * 1000)
      WHEN regexp_full_match(order_time, '[0-9]{{10}}') THEN make_timestamp(order_time::BIGINT * 1000000)
      WHEN order_time LIKE '%+08:00' THEN try_strptime(order_time, '%Y-%m-%dT%H:%M:%S%z')::TIMESTAMP
      ELSE coalesce(
        try_strptime(order_time, '%Y/%m/%d %H:%M'),
        try_strptime(order_time, '%Y年%m月%d日 %H时%M分'),
        try_strptime(order_time, '%Y-%m-%d %H:%M:%S')) - INTERVAL 8 HOUR
    END AS order_ts,
    try_cast(regexp_replace(amount, '[^0-9.-]', '', 'g') AS DECIMAL(18, 2)) AS amount,
    CASE lower(status) WHEN '已完成' THEN 'completed' WHEN '已退款' THEN 'refunded'
      WHEN '已取消' THEN 'cancelled' WHEN '已发货' THEN 'shipped' ELSE lower(status) END AS status,
    channel
  FROM read_csv('{csv}', all_varchar = true, header = true)
) TO '{out}' (FORMAT parquet, COMPRESSION zstd);
"""

PERSONA_TOML = """
[[source]]
name = "shop_orders"
path = "{csv}"
format = "csv"

[source.ingest]
select = [
    "order_no",
    "crm_id",
    "std_timestamp(order_time) AS order_ts",
    "std_amount(amount) AS amount",
    "CASE lower(status) WHEN '已完成' THEN 'completed' WHEN '已退款' THEN 'refunded' WHEN '已取消' THEN 'cancelled' WHEN '已发货' THEN 'shipped' ELSE lower(status) END AS status",
    "channel",
]
dedup = "none"
"""

CHECK_SQL = """
SELECT count(*), count(order_ts), sum(amount), sum(epoch(order_ts)::BIGINT),
       (SELECT string_agg(status || '=' || n, ' ' ORDER BY status)
        FROM (SELECT status, count(*) AS n FROM read_parquet('{path}') GROUP BY status))
FROM read_parquet('{path}')
"""


def timed(cmd, env=None):
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return took, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-ingest"))
    args = ap.parse_args()
    import duckdb

    if not PERSONA.is_file():
        sys.exit(f"{PERSONA} is missing: run `cargo build --release` first")
    data = args.data / f"r{args.rows}"
    data.mkdir(parents=True, exist_ok=True)
    csv = data / "orders.csv"
    if not csv.is_file():
        print(f"writing {args.rows:,} rows to {csv} …", flush=True)
        duckdb.sql(GEN_SQL.format(rows=args.rows, path=str(csv) + ".tmp"))
        os.replace(str(csv) + ".tmp", csv)
    size = csv.stat().st_size
    project = data / "project"
    project.mkdir(exist_ok=True)
    (project / "persona.toml").write_text(PERSONA_TOML.format(csv=csv))
    duck_out = data / "duckdb.parquet"
    duck_cmd = [sys.executable, "-c",
                "import duckdb,sys; c=duckdb.connect(); c.sql('SET enable_progress_bar=false'); c.sql(sys.argv[1])",
                DUCK_SQL.format(csv=csv, out=duck_out)]
    persona_cmd = [str(PERSONA), "--project", str(project), "-q", "ingest"]

    times = {"persona": [], "duckdb": []}
    for run in range(args.runs + 1):
        for name, cmd in (("persona", persona_cmd), ("duckdb", duck_cmd)):
            took, _ = timed(cmd)
            if run > 0:
                times[name].append(took)
    p_out = project / "curated" / "shop_orders.parquet"
    answers = {name: duckdb.sql(CHECK_SQL.format(path=p)).fetchall()[0]
               for name, p in (("persona", p_out), ("duckdb", duck_out))}
    print(f"\n{args.rows:,} rows, {size / 1e6:.0f} MB of CSV; whole-process seconds, median of {args.runs}")
    pm, dm = statistics.median(times["persona"]), statistics.median(times["duckdb"])
    print(f"  persona ingest           {pm:7.2f}  ({' '.join(f'{t:.2f}' for t in times['persona'])})"
          f"  {args.rows / pm / 1e6:5.2f} M rows/s")
    print(f"  DuckDB {duckdb.__version__:<8} COPY     {dm:7.2f}  ({' '.join(f'{t:.2f}' for t in times['duckdb'])})"
          f"  {args.rows / dm / 1e6:5.2f} M rows/s")
    print(f"  ratio persona / DuckDB   {pm / dm:7.2f}")
    same = answers["persona"] == answers["duckdb"]
    print(f"  answers equal: {same}")
    if not same:
        for k, v in answers.items():
            print(f"    {k}: {v}")
        sys.exit(1)


if __name__ == "__main__":
    main()
