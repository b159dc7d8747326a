#!/usr/bin/env python3
"""Behaviour benchmarks, persona side by side with the tools a user would pick instead.

    python3 benches/behaviour.py [--customers 1000000] [--runs 3] [--data DIR]

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR)
and the PyPI packages duckdb, chdb (embedded ClickHouse) and pyarrow (numpy, used to make the
bitmap data, comes with them); run it with the Python that has them, e.g.
`python3 -m venv /tmp/bv && /tmp/bv/bin/pip install duckdb chdb pyarrow`, then
`/tmp/bv/bin/python benches/behaviour.py`. It measures, on the same files in one run:

1. Funnel over the generated project (`persona gen`; 1M customers give about 20M events): per
   customer, the deepest step of view -> cart -> purchase within 7 days, then customers per
   level. persona's `window_funnel` against ClickHouse's `windowFunnel` (chdb) and against
   DuckDB in plain SQL, written two ways: joins (view-cart pairs within 7 days, then a purchase
   within 7 days of the pair's view), and window functions (the latest view before each cart,
   the latest chain start before each purchase). Every customer with an event is counted,
   level 0 included.
2. Retention: per customer, `retention(cond1..cond12)` with condk = an event in month k of
   2024, summed over customers. persona's `retention`, ClickHouse's `retention` (chdb), and
   DuckDB two ways: per-customer `bool_or` flags, and a self-join of each customer's distinct
   months to the customers seen in January.
3. Bitmaps, persona's own times: `bitmap_count(bitmap_agg(id))` over 10M distinct shuffled ids
   (DuckDB's `count(DISTINCT id)` beside it); 50 tags x the customers (each customer has each
   tag with probability 0.2) built into a Parquet file of (tag, value, bitmap); the audience
   '(t01 & t02) - t03' counted with `audience_bitmap` and with the table function `audience`,
   checked against DuckDB's INTERSECT / EXCEPT on the long table.

Whole-process wall times and in-process query times (persona's own timing line, "3 rows ·
0.950 s"; DuckDB's and chdb's query call, timed inside their process after a first trivial
query), medians of --runs runs after one warm-up, the tools run in turn, and the ratio
persona / other. Answers are checked equal.
"""

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"

FUNNEL_STEPS = ("view", "cart", "purchase")
WEEK_S = 7 * 24 * 3600
MONTHS = [f"2024-{k:02d}-01" for k in range(1, 13)]
AUDIENCE = "(t01 & t02) - t03"

# DuckDB and chdb run in a process of their own, like persona: the rows as tab-separated
# text on stdout, then "#time <query seconds>".
RUNNER = r"""
import sys, time
engine, sql = sys.argv[1], sys.argv[2]
if engine == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.sql("SET enable_progress_bar = false")
    con.sql("SELECT 1").fetchall()
    start = time.perf_counter()
    rows = con.sql(sql).fetchall()
    took = time.perf_counter() - start
    text = "".join("\t".join("" if v is None else str(v) for v in r) + "\n" for r in rows)
else:
    import chdb
    chdb.query("SELECT 1", "TSV")
    start = time.perf_counter()
    text = chdb.query(sql, "TSV").bytes().decode()
    took = time.perf_counter() - start
sys.stdout.write(text)
print(f"#time {took:.6f}")
"""


# --- the engines ------------------------------------------------------------------------------

def persona_cmd(project: Path, sql: str):
    """persona printing a table (so the footer gives its own query time)."""
    return [str(PERSONA), "--project", str(project), "--maxrows", "0", "-c", sql]


def persona_parse(out: str):
    """The data rows of persona's table and the seconds of its footer line."""
    lines = out.splitlines()
    sep = next((i for i, l in enumerate(lines) if l.startswith("├")), None)
    rows = []
    if sep is not None:
        for l in lines[sep + 1:]:
            if l.startswith("│"):
                rows.append(tuple(c.strip() for c in l.strip().strip("│").split("│")))
    m = re.search(r"· ([0-9.]+) s\s*$", out)
    return rows, (float(m.group(1)) if m else None)


def runner_cmd(engine: str, sql: str):
    return [sys.executable, "-c", RUNNER, engine, sql]


def runner_parse(out: str):
    rows, took = [], None
    for l in out.splitlines():
        if l.startswith("#time "):
            took = float(l.split()[1])
        elif l:
            rows.append(tuple(l.split("\t")))
    return rows, took


def ints(rows):
    """Rows as tuples of ints: answers compared exactly."""
    return [tuple(int(float(v)) for v in r) for r in rows]


class Engine:
    """One way of running a workload: `name` keys it, `label` says it in the table, `shape`
    turns its rows into the form the answers are compared in."""

    def __init__(self, name, label, cmd, parse, shape=ints):
        self.name, self.label, self.cmd, self.parse, self.shape = name, label, cmd, parse, shape


def persona(project: Path, sql: str) -> Engine:
    return Engine("persona", "persona", persona_cmd(project, sql), persona_parse)


def duck(sql: str, how: str = "", shape=ints) -> Engine:
    import duckdb
    label = f"DuckDB {duckdb.__version__}, plain SQL" + (f" ({how})" if how else "")
    return Engine(f"duckdb {how}", label, runner_cmd("duckdb", sql), runner_parse, shape)


@functools.lru_cache(maxsize=None)
def chdb_version() -> str:
    import chdb
    engine = chdb.query("SELECT version()", "TSV").bytes().decode().strip()
    return f"chdb {chdb.__version__} (ClickHouse {engine})"


def ch(sql: str) -> Engine:
    return Engine("chdb", chdb_version(), runner_cmd("chdb", sql), runner_parse)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd[:4])} ...\n{cmd[-1]}\n{p.stderr}")
    return p.stdout


def turns(engines, runs):
    """Each engine once to warm up, then all of them in turn `runs` times (A B C A B C ...), so
    load on the machine falls on all alike. Per engine: median wall seconds, median query
    seconds, rows of the last run."""
    out = {e.name: run(e.cmd) for e in engines}
    walls = {e.name: [] for e in engines}
    queries = {e.name: [] for e in engines}
    for _ in range(runs):
        for e in engines:
            start = time.perf_counter()
            out[e.name] = run(e.cmd)
            walls[e.name].append(time.perf_counter() - start)
            queries[e.name].append(e.parse(out[e.name])[1])
    res = {}
    for e in engines:
        qs = [q for q in queries[e.name] if q is not None]
        res[e.name] = (statistics.median(walls[e.name]), statistics.median(qs) if qs else None,
                       e.parse(out[e.name])[0])
    return res


# --- the queries ------------------------------------------------------------------------------

def persona_funnel() -> str:
    conds = ", ".join(f"event_type = '{s}'" for s in FUNNEL_STEPS)
    return f"""SELECT level, count(*) AS customers FROM (
    SELECT customer_id, window_funnel(INTERVAL '7 days', event_ts, {conds}) AS level
    FROM events WHERE customer_id IS NOT NULL GROUP BY customer_id)
GROUP BY level ORDER BY level"""


def chdb_funnel(data: Path, whole_seconds: bool) -> str:
    conds = ", ".join(f"event_type = '{s}'" for s in FUNNEL_STEPS)
    # windowFunnel takes DateTime or an unsigned integer, not DateTime64: whole seconds lose
    # nothing in toDateTime, else integer microseconds with the window in microseconds.
    if whole_seconds:
        window, ts = WEEK_S, "toDateTime(event_ts)"
    else:
        window, ts = WEEK_S * 1_000_000, "toUInt64(toUnixTimestamp64Micro(event_ts))"
    return f"""SELECT level, count() AS customers FROM (
    SELECT customer_id, windowFunnel({window})({ts}, {conds}) AS level
    FROM file('{data}/events/*.parquet', Parquet)
    WHERE customer_id IS NOT NULL GROUP BY customer_id)
GROUP BY level ORDER BY level"""


def duckdb_funnel_joins(data: Path) -> str:
    """The funnel in plain SQL with joins: level 3 when a view v, cart c and purchase p of the
    customer have v <= c <= p <= v + 7 days; 2 when a view and a cart have
    v <= c <= v + 7 days; 1 when there is a view; else 0."""
    return f"""
WITH e AS (
    SELECT customer_id, event_ts AS ts, event_type AS t
    FROM read_parquet('{data}/events/*.parquet')
    WHERE customer_id IS NOT NULL
), v AS (SELECT customer_id, ts FROM e WHERE t = 'view'
), c AS (SELECT customer_id, ts FROM e WHERE t = 'cart'
), p AS (SELECT customer_id, ts FROM e WHERE t = 'purchase'
), vc AS (
    SELECT v.customer_id, v.ts AS vts, c.ts AS cts
    FROM v JOIN c ON c.customer_id = v.customer_id
                 AND c.ts BETWEEN v.ts AND v.ts + INTERVAL 7 DAY
), l3 AS (
    SELECT DISTINCT vc.customer_id
    FROM vc JOIN p ON p.customer_id = vc.customer_id
                  AND p.ts BETWEEN vc.cts AND vc.vts + INTERVAL 7 DAY
), l2 AS (SELECT DISTINCT customer_id FROM vc
), l1 AS (SELECT DISTINCT customer_id FROM v
), customers AS (SELECT DISTINCT customer_id FROM e)
SELECT CASE WHEN l3.customer_id IS NOT NULL THEN 3
            WHEN l2.customer_id IS NOT NULL THEN 2
            WHEN l1.customer_id IS NOT NULL THEN 1
            ELSE 0 END AS level,
       count(*) AS customers
FROM customers
LEFT JOIN l3 USING (customer_id) LEFT JOIN l2 USING (customer_id) LEFT JOIN l1 USING (customer_id)
GROUP BY level ORDER BY level
"""


def duckdb_funnel_window(data: Path) -> str:
    """The same funnel with window functions instead of joins. Walking each customer's events
    in time order (ties: view, cart, purchase), the best chain through a cart starts at the
    latest view before it (level 2 when the cart is within 7 days of it), and a purchase
    completes a chain (level 3) when it is within 7 days of the latest such start before it."""
    return f"""
WITH e AS (
    SELECT customer_id, event_ts AS ts,
           CASE event_type WHEN 'view' THEN 1 WHEN 'cart' THEN 2 WHEN 'purchase' THEN 3 END AS step
    FROM read_parquet('{data}/events/*.parquet')
    WHERE customer_id IS NOT NULL
), viewed AS (
    SELECT *, max(CASE WHEN step = 1 THEN ts END) OVER w AS last_view
    FROM e
    WINDOW w AS (PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING)
), carted AS (
    SELECT *, max(CASE WHEN step = 2 AND ts <= last_view + INTERVAL 7 DAY THEN last_view END)
                  OVER w AS chain_start
    FROM viewed
    WINDOW w AS (PARTITION BY customer_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING)
), levels AS (
    SELECT customer_id,
           CASE WHEN bool_or(step = 3 AND ts <= chain_start + INTERVAL 7 DAY) THEN 3
                WHEN bool_or(chain_start IS NOT NULL) THEN 2
                WHEN bool_or(step = 1) THEN 1
                ELSE 0 END AS level
    FROM carted GROUP BY customer_id
)
SELECT level, count(*) AS customers FROM levels GROUP BY level ORDER BY level
"""


def persona_retention() -> str:
    conds = ", ".join(f"m = TIMESTAMP '{d} 00:00:00'" for d in MONTHS)
    sums = ", ".join(f"sum(r[{k}]) AS m{k:02d}" for k in range(1, 13))
    return f"""SELECT {sums} FROM (
    SELECT customer_id, retention({conds}) AS r
    FROM (SELECT customer_id, date_trunc('month', event_ts) AS m
          FROM events WHERE customer_id IS NOT NULL)
    GROUP BY customer_id)"""


def chdb_retention(data: Path) -> str:
    conds = ", ".join(f"m = toDate('{d}')" for d in MONTHS)
    cols = ", ".join(f"s[{k}] AS m{k:02d}" for k in range(1, 13))
    return f"""SELECT {cols} FROM (
    SELECT sumForEach(r) AS s FROM (
        SELECT customer_id, retention({conds}) AS r
        FROM (SELECT customer_id, toStartOfMonth(event_ts) AS m
              FROM file('{data}/events/*.parquet', Parquet) WHERE customer_id IS NOT NULL)
        GROUP BY customer_id))
SETTINGS session_timezone = 'UTC'"""


def duckdb_retention_selfjoin(data: Path) -> str:
    """Retention as a self-join: each customer's distinct months, joined to the customers with
    a January 2024 event; customers per month k of 2024 (month 1: January's own)."""
    return f"""
WITH months AS (
    SELECT DISTINCT customer_id, date_trunc('month', event_ts) AS m
    FROM read_parquet('{data}/events/*.parquet') WHERE customer_id IS NOT NULL
), january AS (SELECT customer_id FROM months WHERE m = DATE '2024-01-01')
SELECT month(m) AS k, count(*) AS customers
FROM months JOIN january USING (customer_id)
WHERE m >= DATE '2024-01-01' AND m < DATE '2025-01-01'
GROUP BY k ORDER BY k
"""


def by_month(rows):
    """(month, customers) rows as the one row of 12 sums the other engines give."""
    per = {int(k): int(n) for k, n in rows}
    return [tuple(per.get(k, 0) for k in range(1, 13))]


def duckdb_retention_flags(data: Path) -> str:
    flags = ",\n           ".join(f"bool_or(m = DATE '{d}') AS m{k:02d}"
                                   for k, d in enumerate(MONTHS, 1))
    sums = ",\n       ".join(["count(*) FILTER (WHERE m01) AS r01"] +
                             [f"count(*) FILTER (WHERE m01 AND m{k:02d}) AS r{k:02d}"
                              for k in range(2, 13)])
    return f"""
WITH per AS (
    SELECT customer_id,
           {flags}
    FROM (SELECT customer_id, date_trunc('month', event_ts) AS m
          FROM read_parquet('{data}/events/*.parquet') WHERE customer_id IS NOT NULL)
    GROUP BY customer_id
)
SELECT {sums}
FROM per
"""


# --- the data ---------------------------------------------------------------------------------

def project(root: Path, customers: int) -> Path:
    """The generated project of `customers` customers, made with `persona gen` when missing."""
    data = root / f"c{customers}"
    if not (data / "persona.toml").exists():
        print(f"generating {customers} customers into {data} ...", flush=True)
        subprocess.run([str(PERSONA), "gen", "--customers", str(customers), "--out", str(data)],
                       check=True)
    return data


def ids_file(root: Path, n: int) -> Path:
    """n distinct ids 1..n, shuffled, as one BIGINT column `id`."""
    path = root / f"ids_{n}.parquet"
    if not path.exists():
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
        print(f"writing {n} shuffled ids to {path} ...", flush=True)
        ids = np.random.default_rng(20240630).permutation(n).astype(np.int64) + 1
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"id": ids}), tmp)
        tmp.rename(path)
    return path


def tags_file(root: Path, customers: int, tags: int, p: float) -> Path:
    """The long table (tag VARCHAR, value VARCHAR, customer_id BIGINT): each customer has each
    tag t01..tNN with probability p; value is NULL (the tags have no values)."""
    path = root / f"tags_c{customers}_t{tags}.parquet"
    if not path.exists():
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
        print(f"writing {tags} tags x {customers} customers to {path} ...", flush=True)
        rng = np.random.default_rng(20240630)
        tag_col, cust_col = [], []
        for t in range(1, tags + 1):
            have = np.flatnonzero(rng.random(customers) < p).astype(np.int64) + 1
            cust_col.append(have)
            tag_col.append(pa.array([f"t{t:02d}"] * len(have), pa.string()))
        n = sum(len(c) for c in cust_col)
        table = pa.table({
            "tag": pa.concat_arrays(tag_col),
            "value": pa.nulls(n, pa.string()),
            "customer_id": np.concatenate(cust_col),
        })
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.rename(path)
    return path


# --- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ids", type=int, default=10_000_000,
                    help="distinct ids for the bitmap_agg row")
    ap.add_argument("--tags", type=int, default=50, help="tags t01.. for the audience rows")
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-behaviour"))
    args = ap.parse_args()
    if not PERSONA.exists():
        sys.exit(f"no release build at {PERSONA}: run cargo build --release first")
    args.data.mkdir(parents=True, exist_ok=True)
    data = project(args.data, args.customers)

    import duckdb  # noqa: E402  (imported here so --help works without it; chdb likewise)

    con = duckdb.connect()
    con.sql("SET enable_progress_bar = false")
    events, fractional, first, last = con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE epoch_us(event_ts) % 1000000 <> 0), "
        f"min(event_ts), max(event_ts) FROM read_parquet('{data}/events/*.parquet')").fetchall()[0]
    whole_seconds = fractional == 0
    print(f"persona {PERSONA}; DuckDB {duckdb.__version__}; {chdb_version()}")
    print(f"{events:,} events from {first} to {last}; "
          f"{'whole seconds' if whole_seconds else f'{fractional:,} with fractional seconds'}")

    # (workload, other, persona (wall, query), other (wall, query) or None, agree, target)
    results = []

    def compare(workload, engines, target=None):
        """persona (the first engine) and the others in turn; a row per other engine. target:
        a wall ratio persona / other per engine name, or a persona query time (str, seconds)."""
        print(f"{workload} ...", flush=True)
        res = turns(engines, args.runs)
        p_wall, p_query, p_rows = res["persona"]
        p_answer = engines[0].shape(p_rows)
        print(f"  persona: {p_answer}")
        for e in engines[1:]:
            wall, query, rows = res[e.name]
            answer = e.shape(rows)
            agree = p_answer == answer
            if not agree:
                print(f"  {e.label}: {answer}  <-- DIFFERS (raw rows: {rows})")
            goal = target.get(e.name.split()[0]) if isinstance(target, dict) else target
            results.append((workload, e.label, (p_wall, p_query), (wall, query), agree, goal))
        return res

    goals = {"duckdb": 0.5, "chdb": 1.5}
    compare(f"window_funnel view -> cart -> purchase, 7 days ({events:,} events)",
            [persona(data, persona_funnel()),
             duck(duckdb_funnel_joins(data), "joins"),
             duck(duckdb_funnel_window(data), "window functions"),
             ch(chdb_funnel(data, whole_seconds))],
            goals)
    compare("retention, 12 months of 2024, summed over customers",
            [persona(data, persona_retention()),
             duck(duckdb_retention_flags(data), "bool_or flags"),
             duck(duckdb_retention_selfjoin(data), "self-join", shape=by_month),
             ch(chdb_retention(data))],
            goals)

    ids = ids_file(args.data, args.ids)
    compare(f"bitmap_count(bitmap_agg(id)) over {args.ids:,} distinct ids",
            [persona(data, f"SELECT bitmap_count(bitmap_agg(id)) AS n FROM '{ids}'"),
             duck(f"SELECT count(DISTINCT id) AS n FROM read_parquet('{ids}')",
                  "count(DISTINCT)")])

    tags = tags_file(args.data, args.customers, args.tags, 0.2)
    bitmaps = args.data / f"tag_bitmaps_c{args.customers}_t{args.tags}.parquet"
    build = (f"COPY (SELECT tag, value, bitmap_agg(customer_id) AS bitmap FROM '{tags}' "
             f"GROUP BY tag, value) TO '{bitmaps}'")
    tag_rows = con.sql(f"SELECT count(*) FROM read_parquet('{tags}')").fetchall()[0][0]
    print(f"tag bitmaps build ({tag_rows:,} tag rows) ...", flush=True)
    res = turns([persona(data, build)], args.runs)
    built = con.sql(f"SELECT count(*) FROM read_parquet('{bitmaps}')").fetchall()[0][0]
    print(f"  persona: {res['persona'][2]}; {built} bitmaps")
    results.append((f"tag bitmaps: {args.tags} tags x {args.customers:,} customers "
                    f"({tag_rows:,} rows) into Parquet", "", res["persona"][:2], None,
                    built == args.tags, None))

    duck_audience = f"""
SELECT count(*) AS n FROM (
    (SELECT customer_id FROM read_parquet('{tags}') WHERE tag = 't01'
     INTERSECT
     SELECT customer_id FROM read_parquet('{tags}') WHERE tag = 't02')
    EXCEPT
    SELECT customer_id FROM read_parquet('{tags}') WHERE tag = 't03')"""
    compare(f"audience_bitmap '{AUDIENCE}' count over the bitmaps",
            [persona(data, f"SELECT bitmap_count(audience_bitmap('{AUDIENCE}', tag, value, "
                           f"bitmap)) AS n FROM '{bitmaps}'"),
             duck(duck_audience, "INTERSECT / EXCEPT on the long table")],
            "0.100")
    compare(f"count(*) FROM audience('{AUDIENCE}', 'tb')",
            [persona(data, f"CREATE VIEW tb AS SELECT * FROM '{bitmaps}'; "
                           f"SELECT count(*) AS n FROM audience('{AUDIENCE}', 'tb')"),
             duck(duck_audience, "INTERSECT / EXCEPT on the long table")],
            "0.100")

    def s(x):
        return "" if x is None else f"{x:.3f}"

    def ratio(a, b):
        return "" if a is None or b is None or b == 0 else f"{a / b:.2f}"

    print()
    print("| workload | compared with | persona wall s | other wall s | wall ratio "
          "| persona query s | other query s | query ratio | target | answers agree |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, other, (pw, pq_), o, agree, target in results:
        ow, oq = o if o else (None, None)
        if isinstance(target, float):
            met = pw / ow <= target
            goal = f"wall ratio <= {target:.2f}: {'met' if met else 'MISSED'}"
        elif isinstance(target, str):
            met = pq_ is not None and pq_ < float(target)
            goal = f"persona query < {target} s: {'met' if met else 'MISSED'}"
        else:
            goal = ""
        print(f"| {name} | {other} | {s(pw)} | {s(ow)} | {ratio(pw, ow)} | {s(pq_)} | {s(oq)} "
              f"| {ratio(pq_, oq)} | {goal} | {'yes' if agree else 'NO'} |")


if __name__ == "__main__":
    main()
