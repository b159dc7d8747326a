#!/usr/bin/env python3
"""The customer-profiling workload on persona and the engines a user would pick instead, in one
run, on the same generated Parquet files, every answer checked equal.

    python3 benches/workload/suite.py [--scales small,medium] [--runs 3]
                                      [--engines persona,duckdb,polars,chdb,datafusion]
                                      [--data DIR] [--memory-limit 2GB] [--readme]

Needs a release build of persona (`cargo build --release`, found through CARGO_TARGET_DIR) and
the PyPI packages duckdb, polars, chdb, datafusion, pyarrow and numpy.

- Data: gen.py writes SCALE/{customers,orders,web_events} under --data when missing (small:
  100k orders, medium: 10M, large: 50M). persona reads them through a project whose sources
  are those folders; its own views (customer_rfm, customer_segments, customer_clv) run on a
  `persona gen` project of as many orders (10k, 1M, 5M customers).
- Queries (queries.py): Q1 RFM with segments, Q2 cohort retention, Q3 the view -> cart ->
  purchase funnel, Q4 customer_360 written to Parquet. Each engine runs its own dialect.
- Every query runs once per engine for its answer (Q1-Q3 compared row by row with DuckDB's,
  Q4 by checksums of the written file), then --runs rounds, each engine once per round in
  turn. Times are whole-process wall seconds, medians; the ratio to DuckDB is taken pair by
  pair (the engine's run over DuckDB's run of the same round), then its median. Peak memory is
  the process's maximum resident set.
- Each scale's results are saved under --data/results/, and the tables cover every scale saved,
  so scales measured in separate runs share them; --readme writes the tables between the
  markers in benches/README.md, --report-only rewrites them from the saved results alone.
- --memory-limit runs persona with that limit too (its row says so), checked against the
  answers of the other engines.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import queries  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"
SCALES = {"small": 10_000, "medium": 1_000_000, "large": 5_000_000}  # persona gen customers
QUERIES_ALL = QUERIES = {"q1": "Q1 RFM with segments", "q2": "Q2 cohort retention", "q3": "Q3 funnel view -> cart -> purchase",
           "q4": "Q4 customer_360 to Parquet"}
MARK_BEGIN = "<!-- workload suite: begin -->"
MARK_END = "<!-- workload suite: end -->"


def timed(cmd, env=None):
    """Wall seconds, peak RSS (MiB) and stdout of one whole-process run."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as f:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, *map(str, cmd)],
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))[:300]}\n{p.stderr[-1500:]}")
        rss_kb = int(f.read().strip().splitlines()[-1])
    return wall, rss_kb / 1024, p.stdout


class Engine:
    def __init__(self, name, data, out, memory_limit=None):
        self.name, self.data, self.out, self.memory_limit = name, data, out, memory_limit
        self.label = name if not memory_limit else f"persona --memory-limit {memory_limit}"

    def env(self):
        return dict(os.environ, BENCH_DATA=str(self.data), BENCH_OUT=str(self.out), TZ="UTC")

    def q4_file(self, scale):
        return self.out / self.label.replace(" ", "_") / scale / "customer_360.parquet"

    def command(self, q, scale):
        if self.name != "persona":
            return [sys.executable, HERE / "engines.py", self.name, q, scale, "--print"]
        project = persona_project(self.data, scale)
        tables = {t: t for t in ("customers", "orders", "web_events")}
        sql = queries.persona_sql(q, tables)
        cmd = [PERSONA, "--project", project, "-q"]
        if self.memory_limit:
            cmd += ["--memory-limit", self.memory_limit]
        if q == "q4":
            f = self.q4_file(scale)
            f.parent.mkdir(parents=True, exist_ok=True)
            return cmd + ["-c", sql, "-o", f]
        return cmd + ["--format", "json", "-c", sql]

    def answer(self, q, scale, stdout):
        if q == "q4":
            f = self.q4_file(scale) if self.name == "persona" else self.out / self.name / scale / "customer_360.parquet"
            return [q4_checksums(f)]
        if self.name == "persona":
            return json.loads(stdout) if stdout.strip() else []
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def persona_project(data, scale):
    """A project whose sources are the generated folders (no views of its own)."""
    d = data / f"persona-{scale}"
    d.mkdir(parents=True, exist_ok=True)
    text = '[project]\nname = "workload"\nbuiltin_views = false\n\n' + "".join(
        f'[[source]]\nname = "{t}"\npath = "{data / scale / t}"\nformat = "parquet"\n\n'
        for t in ("customers", "orders", "web_events"))
    (d / "persona.toml").write_text(text)
    return d


def q4_checksums(path):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    cs = {"rows": t.num_rows, "distinct_customers": pc.count_distinct(t["customer_id"]).as_py()}
    for c in ["n_orders", "n_valid_orders", "n_refunds", "n_categories", "n_events", "n_views",
              "n_carts", "n_purchases", "n_products", "birth_year"]:
        cs["sum_" + c] = int(pc.sum(t[c].cast(pa.int64())).as_py() or 0)
    cs["sum_total_spend"] = str(pc.sum(t["total_spend"].cast(pa.decimal128(38, 2))).as_py())
    for c in ["total_spend", "last_order_ts", "last_event_ts"]:
        cs["nonnull_" + c] = int(t.num_rows - t[c].null_count)

    def us(c):  # microseconds, whatever the unit and zone annotation
        return t[c].cast(pa.timestamp("us", tz=t[c].type.tz)).cast(pa.int64())
    cs["max_last_event_ts_us"] = pc.max(us("last_event_ts")).as_py()
    cs["min_first_order_ts_us"] = pc.min(us("first_order_ts")).as_py()
    cs["sum_last_order_ts_us"] = str(pc.sum(us("last_order_ts").cast(pa.decimal128(38, 0))).as_py())
    cs["sum_signup_days"] = int(pc.sum(t["signup_date"].cast(pa.int32()).cast(pa.int64())).as_py())
    return cs


def same(a, b):
    def num(v):
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (int, float)):
            return v
        try:
            return Decimal(str(v))
        except Exception:
            return v
    a, b = num(a), num(b)
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except Exception:
            return False
    return a == b


def differences(base, other):
    if len(base) != len(other):
        return [f"{len(base)} rows against {len(other)}"]
    diffs = []
    for i, (ra, rb) in enumerate(zip(base, other)):
        for k, v in ra.items():
            if k not in rb or not same(v, rb[k]):
                diffs.append(f"row {i} {k}: {v} against {rb.get(k)}")
    return diffs


def ensure_data(data, scale):
    if not (data / scale / "web_events").exists():
        print(f"generating the {scale} data into {data / scale} ...", flush=True)
        subprocess.run([sys.executable, HERE / "gen.py", scale, data], check=True)


def ensure_gen_project(data, scale):
    d = data / f"persona-gen-{scale}"
    if not (d / "persona.toml").exists():
        print(f"generating persona's project of {SCALES[scale]:,} customers into {d} ...", flush=True)
        subprocess.run([PERSONA, "gen", "--customers", str(SCALES[scale]), "--out", d], check=True,
                       capture_output=True)
    return d


def versions():
    import chdb
    import datafusion
    import duckdb
    import polars
    persona = subprocess.run([PERSONA, "--version"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    return {"machine": f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.system()} {platform.release()}",
            "persona": persona, "duckdb": duckdb.__version__, "polars": polars.__version__,
            "chdb": f"{chdb.__version__} (ClickHouse {chdb.query('SELECT version()', 'CSV').bytes().decode().strip()})",
            "datafusion": f"{datafusion.__version__} (Python bindings)"}


def workload(scale, engines, runs):
    """Rows of the workload table for one scale."""
    rows = []
    for q, title in QUERIES.items():
        answers, stats = {}, {e.label: {"wall": [], "rss": []} for e in engines}
        for e in engines:  # the answer run doubles as a warm-up (file cache, imports)
            _, _, out = timed(e.command(q, scale), e.env())
            answers[e.label] = e.answer(q, scale, out)
        base = answers["duckdb"]
        agree = {label: not differences(base, a) for label, a in answers.items()}
        for label, a in answers.items():
            d = differences(base, a)
            if d:
                print(f"  {scale} {q} {label} differs from duckdb: " + "; ".join(d[:5]), flush=True)
        for _ in range(runs):
            for e in engines:
                wall, rss, _ = timed(e.command(q, scale), e.env())
                stats[e.label]["wall"].append(wall)
                stats[e.label]["rss"].append(rss)
        duck = stats["duckdb"]["wall"]
        for e in engines:
            s = stats[e.label]
            ratios = [w / d for w, d in zip(s["wall"], duck)]
            row = dict(scale=scale, query=title, engine=e.label, wall=statistics.median(s["wall"]),
                       ratio=statistics.median(ratios), ratio_lo=min(ratios), ratio_hi=max(ratios),
                       rss=max(s["rss"]), agree=agree[e.label])
            rows.append(row)
            print(f"{scale} {q} {e.label:>12}: {row['wall']:7.3f} s  x{row['ratio']:.2f} "
                  f"[{row['ratio_lo']:.2f}-{row['ratio_hi']:.2f}]  {row['rss']:7.0f} MiB  "
                  f"{'agrees' if row['agree'] else 'DIFFERS'}", flush=True)
    return rows


def views(scale, data, runs):
    """persona's own views on a `persona gen` project; customer_rfm against DuckDB."""
    from value_models import PERSONA_RFM, duckdb_rfm, rows as csv_rows, same_answer
    project = ensure_gen_project(data, scale)
    base = [PERSONA, "--project", project, "-q", "--format", "csv"]
    as_of = subprocess.run(base + ["-c", "SELECT as_of() AS d"], check=True, capture_output=True,
                           text=True).stdout.split()[1]
    orders = int(subprocess.run(base + ["-c", "SELECT count(*) AS n FROM orders"], check=True,
                                capture_output=True, text=True).stdout.split()[1])
    duck = [sys.executable, "-c",
            "import duckdb,sys; r=duckdb.sql(sys.argv[1]).fetchall(); print('segment,customers,revenue'); "
            "[print(f'{a},{b},{c}') for a,b,c in r]", duckdb_rfm(project, as_of)]
    work = [
        ("customer_rfm + rfm_segment: customers and revenue per segment", base + ["-c", PERSONA_RFM], duck),
        ("customer_segments: customers per segment",
         base + ["-c", "SELECT segment, count(*) AS n FROM customer_segments GROUP BY 1 ORDER BY 1"], None),
        ("customer_clv: customers, sum of the 12-month CLV",
         base + ["-c", "SELECT count(*) AS n, round(sum(clv_12m), 2) AS clv FROM customer_clv"], None),
    ]
    rows = []
    for title, cmd, other in work:
        _, _, p_out = timed(cmd)
        agree = None
        if other:
            _, _, o_out = timed(other)
            agree = same_answer(csv_rows(p_out), csv_rows(o_out))
        pw, pr, ow, ratios = [], [], [], []
        for _ in range(runs):
            w, r, _ = timed(cmd)
            pw.append(w)
            pr.append(r)
            if other:
                w2, _, _ = timed(other)
                ow.append(w2)
                ratios.append(w / w2)
        row = dict(scale=scale, orders=orders, view=title, wall=statistics.median(pw), rss=max(pr),
                   duckdb=statistics.median(ow) if ow else None,
                   ratio=statistics.median(ratios) if ratios else None, agree=agree,
                   answer=" / ".join(p_out.strip().splitlines()[1:4]))
        rows.append(row)
        print(f"{scale} view {title[:30]:>30}: {row['wall']:.3f} s {row['rss']:.0f} MiB "
              f"ratio {row['ratio'] if row['ratio'] is None else round(row['ratio'], 2)} agree {agree}",
              flush=True)
    return rows


def markdown(results):
    """The tables of every scale measured (its saved results), for benches/README.md."""
    info = results[-1]["info"]
    out = [MARK_BEGIN, "",
           "Whole-process wall time, median of the timed rounds after an answer run; the ratio is "
           "to DuckDB, pair by pair within a round, median [lowest-highest]; peak memory is the "
           "highest maximum resident set of the runs.", "",
           f"- Machine: {info['machine']}",
           f"- Versions: {info['persona']}; DuckDB {info['duckdb']}; Polars {info['polars']}; "
           f"chdb {info['chdb']}; DataFusion {info['datafusion']}", ""]
    names = {"small": "100k", "medium": "10M", "large": "50M"}
    for res in results:
        rows = res["work"]
        if not rows:
            continue
        scale = rows[0]["scale"]
        commands = "; ".join(f"`{c}`" for c in res.get("commands", [res.get("command", "")]))
        out += [f"**{scale}: {names[scale]} orders** ({commands})", "",
                "| query | engine | wall s | ratio to DuckDB | peak MiB | answer equal to DuckDB's |",
                "|---|---|---:|---:|---:|---|"]
        for r in rows:
            out.append(f"| {r['query']} | {r['engine']} | {r['wall']:.3f} | {r['ratio']:.2f} "
                       f"[{r['ratio_lo']:.2f}-{r['ratio_hi']:.2f}] | {r['rss']:.0f} | "
                       f"{'yes' if r['agree'] else 'NO'} |")
        out.append("")
    view_rows = [r for res in results for r in res["views"]]
    if view_rows:
        out += ["persona's own views on `persona gen` projects of about as many orders:", "",
                "| scale | orders | view | persona wall s | peak MiB | DuckDB s (same SQL) | ratio | answer |",
                "|---|---:|---|---:|---:|---:|---:|---|"]
        for r in view_rows:
            d = f"{r['duckdb']:.3f}" if r["duckdb"] else ""
            ratio = f"{r['ratio']:.2f}" if r["ratio"] else ""
            ans = ("equal to DuckDB's" if r["agree"] else "DIFFERS") if r["agree"] is not None else r["answer"]
            out.append(f"| {r['scale']} | {r['orders']:,} | {r['view']} | {r['wall']:.3f} | {r['rss']:.0f} | "
                       f"{d} | {ratio} | {ans} |")
        out.append("")
    out.append(MARK_END)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="small,medium")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", default="persona,duckdb,polars,chdb,datafusion")
    ap.add_argument("--queries", default="q1,q2,q3,q4")
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-workload"))
    ap.add_argument("--memory-limit", help="also run persona with this --memory-limit")
    ap.add_argument("--no-views", action="store_true", help="skip persona's own views")
    ap.add_argument("--readme", action="store_true", help="write the tables into benches/README.md")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: print (and with --readme write) the tables of the saved results")
    args = ap.parse_args()
    if not PERSONA.exists() and not args.report_only:
        sys.exit(f"no release build at {PERSONA}: run cargo build --release first")
    global QUERIES
    QUERIES = {q: t for q, t in QUERIES.items() if q in args.queries.split(",")}
    names = args.engines.split(",")
    if "duckdb" not in names:
        names.insert(1, "duckdb")
    out = args.data / "out"
    engines = [Engine(n, args.data, out) for n in names]
    if args.memory_limit:
        engines.append(Engine("persona", args.data, out, args.memory_limit))
    info = None if args.report_only else versions()
    command = ("python3 benches/workload/suite.py " + " ".join(sys.argv[1:])).strip()
    saved = args.data / "results"
    saved.mkdir(parents=True, exist_ok=True)
    for scale in [] if args.report_only else args.scales.split(","):
        ensure_data(args.data, scale)
        work_rows = workload(scale, engines, args.runs)
        view_rows = [] if args.no_views else views(scale, args.data, args.runs)
        # Each scale's results are kept, so scales (or queries) measured by separate runs share
        # one table: rows of the queries run now replace those saved before.
        path = saved / f"{scale}.json"
        old = json.loads(path.read_text()) if path.exists() else dict(work=[], views=[])
        titles = {r["query"] for r in work_rows}
        work_rows = [r for r in old["work"] if r["query"] not in titles] + work_rows
        order = list(QUERIES_ALL.values())
        work_rows.sort(key=lambda r: order.index(r["query"]))
        view_rows = view_rows or old["views"]
        commands = list(dict.fromkeys(old.get("commands", [old["command"]] if "command" in old else []) + [command]))
        path.write_text(json.dumps(dict(info=info, commands=commands, runs=args.runs, work=work_rows,
                                        views=view_rows), indent=1))
    results = [json.loads((saved / f"{s}.json").read_text()) for s in SCALES if (saved / f"{s}.json").exists()]
    table = markdown(results)
    print(table)
    if args.readme:
        readme = HERE.parent / "README.md"
        text = readme.read_text()
        if MARK_BEGIN in text:
            text = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _: table, text, flags=re.S)
        else:
            text += "\n" + table + "\n"
        readme.write_text(text)
        print(f"wrote {readme}")


if __name__ == "__main__":
    main()
