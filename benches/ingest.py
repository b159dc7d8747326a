#!/usr/bin/env python3
"""Ingest benchmark: raw data to curated Parquet with the cleaning applied, persona against
DuckDB doing the same read-clean-write. Two modes: one order CSV (the default), or a whole raw
project (`--project DIR`).

    /tmp/bv/bin/python benches/ingest.py [--rows 10000000] [--runs 3] [--data DIR] [--memory-limit SIZE]
    /tmp/bv/bin/python benches/ingest.py --project DIR [--runs 1] [--data DIR] [--memory-limit SIZE]

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR)
and the PyPI package duckdb (`python3 -m venv /tmp/bv && /tmp/bv/bin/pip install duckdb`).
`--memory-limit` is passed to persona as it is (`persona --memory-limit SIZE ingest`); DuckDB
keeps its default threads and memory limit. Both modes report whole-process wall seconds
(medians of --runs), the ratio persona / DuckDB and each process's peak RSS (from wait4); the
project mode also its CPU seconds (user + system), which other work on the machine disturbs
less than the wall time. A warning is printed when cargo, rustc or persona is running, or the
load average is above 1, at the start.

Order CSV mode
--------------

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

Whole-process wall times, medians of --runs runs (default 3) after one warm-up, tools in turn.
The two outputs are checked equal: row count, rows with a time, the sum of the amounts, the sum
of the times' epoch seconds, and the count per status.

Project mode (`--project DIR`)
------------------------------

DIR is a raw project as `persona gen --raw --customers N --out DIR` writes it: persona.toml and
raw/ (crm_customers.csv, orders.csv, web_events.ndjson, social_comments.ndjson, feedback.csv).
Every `[[source]]` with a `[source.ingest]` section is ingested (the truth_* sources have none).

- persona: `persona --project DIR -q ingest`, which writes DIR/curated (the curated Parquet
  per source, sorted by key, file and line; _rejects/; _state/) and then stitches identities
  (identity_map.parquet, identity_audit.parquet), a step DuckDB's side does not do. Its time
  per source and for the stitching is read off the mtimes of the files it writes.
- DuckDB: one SQL script (written to --data/project-<DIR name>/duckdb.sql) run in one Python
  process over one in-memory connection, output in --data/project-<DIR name>/duckdb/. For each
  ingest source it reads the file with every column as VARCHAR (`read_csv(…, all_varchar,
  store_rejects)`, whose malformed records become rejects as persona's do;
  `read_json(…, format = 'newline_delimited', columns = {all VARCHAR}, ignore_errors)`, whose
  unreadable lines come back as all-NULL rows, made rejects), numbers the rows with
  `row_number() OVER ()` (file order), applies the source's `select` items as they are written
  in persona.toml, with DuckDB macros of the same names standing in for persona's cleaning
  functions, computes a reject reason from the NULL keys and the `rule`s (`raw['col']` is a
  struct of the raw values), ranks duplicates with ROW_NUMBER() windows defining what persona's
  ingest keeps (`exact`: keep the first of rows equal in every curated column, then a later row with
  a key already kept is a reject; `latest`: per key the largest latest_by; `none`), keeps the
  result in a temporary table, and writes the kept rows sorted by key and file order, and the
  rejected rows (line, reason, raw values as JSON), each with
  `COPY … TO '….parquet' (FORMAT parquet, COMPRESSION zstd)`.

The macros do comparable work, not the same: std_text makes the common full-width
punctuation ASCII (，！？：；（） and the ideographic space), collapses whitespace and trims (no
full NFKC); std_gender maps the common spellings to M/F; std_date and std_timestamp are
`try_strptime` over the spellings the generator writes (std_timestamp is the order CSV mode's
expression: epochs, ISO 8601 with an offset, local Beijing times); std_amount strips all but
digits, '.' and '-' and casts; std_phone keeps the digits, drops a 0086/86 prefix and accepts a
Chinese mobile number only (persona's also reads landlines and other countries' numbers);
std_email lower-cases, trims and checks with a regular expression; both make full-width forms
ASCII first, with `translate` on the values holding one only (DuckDB's translate costs
microseconds a value); std_city trims, lower-cases and drops a province prefix and a 市 suffix
(persona maps every Chinese or Latin name to the division's short name, so `Shanghai` and
`上海市` become one value there but not here); date_reason and phone_reason give coarse reasons.

The raw files are read once before timing, so both tools start with them in the page cache.
Runs default to 1 (a 300k-customer project takes minutes); tools in turn, no warm-up run.
After the runs, the kept and rejected rows per source of both tools are printed side by side,
with the rejects by reason where the counts differ: the cleaning differs slightly (above), so
close rather than equal counts are expected.
"""

import argparse
import csv as csvmod
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
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

# A time as `persona gen --raw` spells it (epoch seconds or milliseconds, ISO 8601 with an
# offset, or a local Beijing time in three spellings) as a UTC TIMESTAMP; `{x}` is the text.
TIME_EXPR = r"""CASE
      WHEN regexp_full_match({x}, '[0-9]{{13}}') THEN make_timestamp({x}::BIGINT * 1000)
      WHEN regexp_full_match({x}, '[0-9]{{10}}') THEN make_timestamp({x}::BIGINT * 1000000)
      WHEN {x} LIKE '%+08:00' THEN try_strptime({x}, '%Y-%m-%dT%H:%M:%S%z')::TIMESTAMP
      ELSE coalesce(
        try_strptime({x}, '%Y/%m/%d %H:%M'),
        try_strptime({x}, '%Y年%m月%d日 %H时%M分'),
        try_strptime({x}, '%Y-%m-%d %H:%M:%S')) - INTERVAL 8 HOUR
    END"""

# An amount (`¥1,234.50`, `RMB 300.00`, `300.00元`, `300.00`) as DECIMAL(18, 2).
AMOUNT_EXPR = r"try_cast(regexp_replace({x}, '[^0-9.-]', '', 'g') AS DECIMAL(18, 2))"

DUCK_SQL = r"""
COPY (
  SELECT order_no, crm_id,
    {order_ts} AS order_ts,
    {amount} AS amount,
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

# DuckDB stand-ins for persona's cleaning functions, under the same names, so a source's
# `select` items and rules run in DuckDB as persona.toml writes them. Comparable work, not the
# same results: see the module's documentation.
MACROS = r"""
SET enable_progress_bar = false;
SET TimeZone = 'UTC';
CREATE MACRO fold_width(x) AS CASE WHEN regexp_matches(x, '[\x{{FF01}}-\x{{FF5E}}\x{{3000}}]')
  THEN translate(x, {wide}, {narrow}) ELSE x END;
CREATE MACRO std_text(x) AS nullif(trim(regexp_replace(replace(replace(replace(replace(replace(replace(replace(
  replace(x, '，', ','), '！', '!'), '？', '?'), '：', ':'), '；', ';'), '（', '('), '）', ')'), '　', ' '),
  '\s+', ' ', 'g')), '');
CREATE MACRO std_gender(x) AS CASE
  WHEN lower(trim(x)) IN ('男', '男性', '男士', '男生', '先生', 'm', 'male', 'man', 'boy', 'mr', '1') THEN 'M'
  WHEN lower(trim(x)) IN ('女', '女性', '女士', '女生', '小姐', '太太', 'f', 'female', 'woman', 'girl', 'mrs', 'ms', 'miss', '2') THEN 'F'
  END;
CREATE MACRO std_date(x) AS try_strptime(trim(x),
  ['%Y-%m-%d', '%Y/%m/%d', '%Y.%m.%d', '%Y%m%d', '%Y年%m月%d日', '%b %d, %Y', '%d %b %Y'])::DATE;
CREATE MACRO std_timestamp(x) AS {time};
CREATE MACRO std_amount(x) AS {amount};
CREATE MACRO phone_digits(x) AS regexp_replace(fold_width(x), '[^0-9]', '', 'g');
CREATE MACRO phone_of_digits(d) AS CASE WHEN regexp_full_match(d, '(0086|86)?1[3-9][0-9]{{9}}') THEN '+86' || right(d, 11) END;
CREATE MACRO std_phone(x) AS phone_of_digits(phone_digits(x));
CREATE MACRO phone_reason(x) AS CASE WHEN x IS NULL THEN NULL
  WHEN length(phone_digits(x)) < 11 THEN 'too short' WHEN length(phone_digits(x)) > 15 THEN 'too long'
  ELSE 'not a valid number' END;
CREATE MACRO email_of_lower(e) AS CASE WHEN length(e) <= 254 AND regexp_full_match(e,
  '[a-z0-9!#$%&''*+/=?^_`{{|}}~-]+(\.[a-z0-9!#$%&''*+/=?^_`{{|}}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*')
  THEN e END;
CREATE MACRO std_email(x) AS email_of_lower(lower(trim(fold_width(x))));
CREATE MACRO std_city(x) AS nullif(regexp_replace(regexp_replace(lower(trim(x)), '^[^省]+省', ''), '市$', ''), '');
CREATE MACRO date_reason(x) AS CASE WHEN x IS NULL OR trim(x) = '' THEN 'empty' ELSE 'not a date' END;
""".format(time=TIME_EXPR.format(x="x"), amount=AMOUNT_EXPR.format(x="x"),
           # The full-width forms of ASCII and the ideographic space, as NFKC maps them.
           wide="'" + "".join(map(chr, range(0xFF01, 0xFF5F))) + "\u3000'",
           narrow="'" + "".join(map(chr, range(0x21, 0x7F))).replace("'", "''") + " '")

# Runs a script of `-- source: NAME` sections in one connection, printing each section's seconds.
DUCK_DRIVER = r"""
import sys, time, duckdb
con = duckdb.connect()
script = open(sys.argv[1], encoding="utf-8").read()
start = time.perf_counter()
for section in script.split("\n-- source: ")[1:]:
    name, _, sql = section.partition("\n")
    t = time.perf_counter()
    con.execute(sql)
    con.complete()
    print(name, time.perf_counter() - t, flush=True)
print("total", time.perf_counter() - start)
"""


class Run:
    """One finished process: wall seconds, CPU seconds (user + system), peak RSS in bytes,
    output, and when it started."""

    def __init__(self, seconds, cpu, rss, stdout, started):
        self.seconds, self.cpu, self.rss, self.stdout, self.started = seconds, cpu, rss, stdout, started


def timed(cmd, cwd=None):
    """Runs cmd to its end; its wall time and, from wait4, its own CPU time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.time()
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(p.pid, 0)
        took = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{stderr[-2000:]}")
    return Run(took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, stdout, started)


def persona_cmd(project, args):
    cmd = [str(PERSONA), "--project", str(project), "-q"]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    return cmd + ["ingest"]


def duck_python_cmd(sql):
    return [sys.executable, "-c",
            "import duckdb,sys; c=duckdb.connect(); c.sql('SET enable_progress_bar=false'); c.sql(sys.argv[1])",
            sql]


def mb(n):
    return f"{n / 2**20:,.0f} MiB"


def check_binary():
    if not PERSONA.is_file():
        sys.exit(f"{PERSONA} is missing: run `cargo build --release` first")
    age = time.time() - PERSONA.stat().st_mtime
    print(f"{PERSONA} (built {age / 60:.0f} min ago)")
    busy = [f"{name} (pid {', '.join(pids)})" for name in ("cargo", "rustc", "persona")
            if (pids := subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split())]
    load = os.getloadavg()[0]
    if busy or load > 1.0:
        print(f"warning: the machine is busy ({', '.join(busy + [f'load average {load:.1f}'])}): "
              "the times will be off", file=sys.stderr)


def orders_main(args):
    import duckdb

    runs = args.runs or 3
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
    duck_cmd = duck_python_cmd(DUCK_SQL.format(
        csv=csv, out=duck_out, order_ts=TIME_EXPR.format(x="order_time"),
        amount=AMOUNT_EXPR.format(x="amount")))

    done = {"persona": [], "duckdb": []}
    for run in range(runs + 1):
        for name, cmd in (("persona", persona_cmd(project, args)), ("duckdb", duck_cmd)):
            r = timed(cmd)
            if run > 0:
                done[name].append(r)
    p_out = project / "curated" / "shop_orders.parquet"
    answers = {name: duckdb.sql(CHECK_SQL.format(path=p)).fetchall()[0]
               for name, p in (("persona", p_out), ("duckdb", duck_out))}
    print(f"\n{args.rows:,} rows, {size / 1e6:.0f} MB of CSV; whole-process seconds, median of {runs}")
    times = {k: [r.seconds for r in v] for k, v in done.items()}
    rss = {k: max(r.rss for r in v) for k, v in done.items()}
    pm, dm = statistics.median(times["persona"]), statistics.median(times["duckdb"])
    print(f"  persona ingest           {pm:7.2f}  ({' '.join(f'{t:.2f}' for t in times['persona'])})"
          f"  {args.rows / pm / 1e6:5.2f} M rows/s  peak RSS {mb(rss['persona'])}")
    print(f"  DuckDB {duckdb.__version__:<8} COPY     {dm:7.2f}  ({' '.join(f'{t:.2f}' for t in times['duckdb'])})"
          f"  {args.rows / dm / 1e6:5.2f} M rows/s  peak RSS {mb(rss['duckdb'])}")
    print(f"  ratio persona / DuckDB   {pm / dm:7.2f}")
    same = answers["persona"] == answers["duckdb"]
    print(f"  answers equal: {same}")
    if not same:
        for k, v in answers.items():
            print(f"    {k}: {v}")
        sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Project mode


def ident(name):
    """A SQL identifier, quoted when it needs to be (as persona's ingest quotes them)."""
    plain = (name[:1].islower() or name[:1] == "_") and all(
        c.islower() or c.isdigit() or c == "_" for c in name) and name.isascii()
    return name if plain else '"' + name.replace('"', '""') + '"'


def lit(text):
    return "'" + str(text).replace("'", "''") + "'"


def source_format(src):
    fmt = src.get("format") or Path(src["path"]).suffix.lstrip(".")
    return {"jsonl": "ndjson"}.get(fmt, fmt)


def raw_columns(con, src, path):
    """The raw columns of a source's file: the CSV header, or the NDJSON keys DuckDB samples."""
    fmt = source_format(src)
    if fmt in ("csv", "tsv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            return next(csvmod.reader(f, delimiter="\t" if fmt == "tsv" else ","))
    if fmt == "ndjson":
        rel = con.sql(f"SELECT * FROM read_json({lit(path)}, format = 'newline_delimited', "
                      "ignore_errors = true) LIMIT 0")
        return list(rel.columns)
    sys.exit(f"source '{src['name']}': format {fmt} is not supported by this benchmark")


def source_sql(con, project, src, out):
    """The DuckDB statements for one ingest source, and its curated columns."""
    name, ing = src["name"], src["ingest"]
    path = project / src["path"]
    fmt = source_format(src)
    cols = raw_columns(con, src, path)
    if fmt in ("csv", "tsv"):
        delim = "\\t" if fmt == "tsv" else ","
        reader = (f"read_csv({lit(path)}, all_varchar = true, header = true, delim = E'{delim}', "
                  f"quote = '\"', escape = '\"', store_rejects = true, "
                  f"rejects_table = '_rej_{name}', rejects_scan = '_scan_{name}')")
        unreadable = None
    else:
        spec = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols)
        reader = (f"read_json({lit(path)}, format = 'newline_delimited', ignore_errors = true, "
                  f"columns = {{{spec}}})")
        unreadable = " AND ".join(f"raw[{lit(c)}] IS NULL" for c in cols)
    select = ", ".join(ing.get("select") or [ident(c) for c in cols])
    raw_struct = "struct_pack(" + ", ".join(f"{ident(c)} := {ident(c)}" for c in cols) + ")"
    # The curated columns, as DuckDB names them, from the select over an empty table.
    empty = ", ".join(f"NULL::VARCHAR AS {ident(c)}" for c in cols)
    try:
        probe = f"SELECT {select} FROM (SELECT *, {raw_struct} AS raw FROM (SELECT {empty})) LIMIT 0"
        curated = list(con.sql(probe).columns)
    except Exception as e:  # noqa: BLE001 - a message naming the source is all that is wanted
        sys.exit(f"source '{name}': its select does not run in DuckDB: {e}")
    keys = ing.get("key", [])
    dedup = ing.get("dedup", "exact")

    whens = []
    if unreadable:
        whens.append(f"WHEN {unreadable} THEN 'not JSON'")
    whens += [f"WHEN {ident(k)} IS NULL THEN {lit('missing key ' + k)}" for k in keys]
    for rule in ing.get("rule", []):
        reason = rule.get("reason") or lit(f"{rule['name']} failed: {rule['check']}")
        whens.append(f"WHEN NOT coalesce(({rule['check']}), false) "
                     f"THEN coalesce(CAST(({reason}) AS VARCHAR), {lit(rule['name'] + ' failed')})")
    reject = f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"
    cur = ", ".join(ident(c) for c in curated)
    keyl = ", ".join(ident(k) for k in keys)
    checked = f"""
  src AS (SELECT *, row_number() OVER () AS _line FROM {reader}),
  cleaned AS (SELECT {select}, _line, {raw_struct} AS raw FROM src),
  judged AS (SELECT *, {reject} AS _reject FROM cleaned),
  checked AS (SELECT {cur}, _line, _reject,
    CASE WHEN _reject IS NOT NULL THEN to_json(raw)::VARCHAR END AS _raw FROM judged)"""
    ok = "(_reject IS NULL)"
    if dedup == "latest":
        by = ident(ing["latest_by"])
        final = (f"SELECT * EXCLUDE (_n), {ok} AND _n > 1 AS _merged FROM ("
                 f"SELECT *, row_number() OVER (PARTITION BY {ok}, {keyl} ORDER BY {by} DESC NULLS LAST, "
                 f"_line DESC) AS _n FROM checked) AS a")
    elif dedup == "none" and not keys:
        final = "SELECT *, false AS _merged FROM checked"
    else:
        n = (f"row_number() OVER (PARTITION BY {ok}, {cur} ORDER BY _line)"
             if dedup == "exact" else "1")
        if not keys:
            final = (f"SELECT * EXCLUDE (_n), {ok} AND _n > 1 AS _merged "
                     f"FROM (SELECT *, {n} AS _n FROM checked) AS a")
        else:
            part = f"PARTITION BY {ok} AND _n = 1, {keyl} ORDER BY _line"
            final = (f"SELECT * EXCLUDE (_n, _k, _kl, _reject), "
                     f"CASE WHEN _reject IS NULL AND _n = 1 AND _k > 1 THEN 'duplicate key: line ' || "
                     f"CAST(_kl AS VARCHAR) || {lit(' has the same ' + ', '.join(keys) + ' with other values')} "
                     f"ELSE _reject END AS _reject, _reject IS NULL AND _n > 1 AS _merged "
                     f"FROM (SELECT *, row_number() OVER ({part}) AS _k, first_value(_line) OVER ({part}) AS _kl "
                     f"FROM (SELECT *, {n} AS _n FROM checked) AS a) AS b")
    order = f"{keyl}, _line" if keys else "_line"
    rel = lit(src["path"])
    reader_rejects = ""
    if unreadable is None:
        reader_rejects = (f"\n  UNION ALL SELECT {lit(name)}, {rel}, CAST(line AS BIGINT), error_message, csv_line "
                          f"FROM _rej_{name}")
    sql = f"""
-- source: {name}
CREATE TEMP TABLE _final AS
WITH {checked}
{final};
COPY (SELECT {cur}, {rel} AS _file, _line FROM _final WHERE _reject IS NULL AND NOT _merged ORDER BY {order})
  TO {lit(out / (name + '.parquet'))} (FORMAT parquet, COMPRESSION zstd);
COPY (SELECT {lit(name)} AS source, {rel} AS file, _line AS line, _reject AS reason, _raw AS raw
  FROM _final WHERE _reject IS NOT NULL{reader_rejects}
  ORDER BY line) TO {lit(out / '_rejects' / (name + '.parquet'))} (FORMAT parquet, COMPRESSION zstd);
DROP TABLE _final;
"""
    if unreadable is None:
        sql += f"DROP TABLE _rej_{name};\nDROP TABLE _scan_{name};\n"
    return sql


def persona_phases(project, names, run):
    """persona's seconds per source and for the identity stitching, from the mtimes of the
    files it writes: each source's _state file is its last write, the identity files the
    stitching's."""
    cur = project / "curated"
    out, last = {}, run.started
    for name in names:
        t = (cur / "_state" / f"{name}.files").stat().st_mtime
        out[name], last = t - last, t
    ends = [(cur / f).stat().st_mtime for f in ("identity_map.parquet", "identity_audit.parquet")
            if (cur / f).is_file()]
    out["(identity stitching)"] = max(ends) - last if ends and max(ends) >= last else 0.0
    return out


def count_rows(con, path):
    return con.sql(f"SELECT count(*) FROM read_parquet({lit(path)})").fetchall()[0][0] if path.is_file() else None


def reasons(con, path):
    """Rejects per reason, the numbers and quoted text taken out to group them."""
    if not path.is_file():
        return []
    return con.sql(
        f"SELECT regexp_replace(regexp_replace(split_part(reason, ': ', 1) || ': ' || split_part(reason, ': ', 2), "
        f"'[0-9]+', 'N', 'g'), ': $', '') AS r, count(*) FROM read_parquet({lit(path)}) "
        f"GROUP BY r ORDER BY 2 DESC LIMIT 8").fetchall()


def project_main(args):
    import duckdb

    project = args.project.resolve()
    runs = args.runs or 1
    cfg = tomllib.loads((project / "persona.toml").read_text(encoding="utf-8"))
    sources = [s for s in cfg.get("source", []) if "ingest" in s]
    if not sources:
        sys.exit(f"{project}/persona.toml has no source with an [source.ingest] section")
    work = args.data / f"project-{project.name}"
    out = work / "duckdb"
    (out / "_rejects").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(MACROS)
    con.complete()
    script = "-- Written by benches/ingest.py --project: the DuckDB side of the benchmark.\n"
    script += "-- source: (setup)\n" + MACROS
    for src in sources:
        script += source_sql(con, project, src, out)
    sql_path = work / "duckdb.sql"
    sql_path.write_text(script, encoding="utf-8")
    duck_cmd = [sys.executable, "-c", DUCK_DRIVER, str(sql_path)]

    files = [project / s["path"] for s in sources]
    size = sum(f.stat().st_size for f in files)
    for f in files:  # into the page cache, for both tools alike
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"{project}: {len(sources)} sources, {size / 1e6:,.0f} MB of raw files; "
          f"DuckDB script {sql_path}, output {out}", flush=True)

    done = {"persona": [], "duckdb": []}
    phases = {"persona": [], "duckdb": []}
    names = [s["name"] for s in sources]
    for run in range(runs):
        for name, cmd, cwd in (("persona", persona_cmd(project, args), None), ("duckdb", duck_cmd, work)):
            r = timed(cmd, cwd=cwd)
            done[name].append(r)
            if name == "persona":
                phases[name].append(persona_phases(project, names, r))
            else:
                phases[name].append({ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
                                     for ln in r.stdout.splitlines() if " " in ln})
            print(f"  run {run + 1}: {name} {r.seconds:.1f} s, CPU {r.cpu:.1f} s, peak RSS {mb(r.rss)}",
                  flush=True)

    times = {k: [r.seconds for r in v] for k, v in done.items()}
    cpu = {k: statistics.median(r.cpu for r in v) for k, v in done.items()}
    rss = {k: max(r.rss for r in v) for k, v in done.items()}
    pm, dm = statistics.median(times["persona"]), statistics.median(times["duckdb"])
    mem = f" --memory-limit {args.memory_limit}" if args.memory_limit else ""
    print(f"\n{project.name}: whole-process seconds, median of {runs} (CPU: user + system seconds)")
    print(f"  persona ingest{mem:<18} {pm:8.1f}  ({' '.join(f'{t:.1f}' for t in times['persona'])})"
          f"  CPU {cpu['persona']:.1f}  peak RSS {mb(rss['persona'])}")
    print(f"  DuckDB {duckdb.__version__:<8} script          {dm:8.1f}  "
          f"({' '.join(f'{t:.1f}' for t in times['duckdb'])})  CPU {cpu['duckdb']:.1f}  peak RSS {mb(rss['duckdb'])}")
    print(f"  ratio persona / DuckDB           {pm / dm:8.2f}  (CPU {cpu['persona'] / cpu['duckdb']:.2f})")

    def median_phase(tool, key):
        vals = [p.get(key) for p in phases[tool] if p.get(key) is not None]
        return statistics.median(vals) if vals else None

    print("\nper source (seconds, median; persona's from its files' mtimes), kept and rejected rows")
    print(f"  {'source':<22} {'persona s':>9} {'DuckDB s':>9} {'persona kept':>13} {'DuckDB kept':>12} "
          f"{'diff':>7} {'persona rej':>12} {'DuckDB rej':>11}")
    cur = project / "curated"
    differing = []
    for name in names + ["(identity stitching)", "(setup)"]:
        ps, ds = median_phase("persona", name), median_phase("duckdb", name)
        fmt = lambda v: f"{v:9.1f}" if v is not None else f"{'-':>9}"  # noqa: E731
        if name not in names:
            if ps is not None or ds is not None:
                print(f"  {name:<22} {fmt(ps)} {fmt(ds)}")
            continue
        pk, dk = count_rows(con, cur / f"{name}.parquet"), count_rows(con, out / f"{name}.parquet")
        pr = count_rows(con, cur / "_rejects" / f"{name}.parquet")
        dr = count_rows(con, out / "_rejects" / f"{name}.parquet")
        diff = f"{(dk - pk) / pk:+7.2%}" if pk else f"{'-':>7}"
        print(f"  {name:<22} {fmt(ps)} {fmt(ds)} {pk:>13,} {dk:>12,} {diff} {pr:>12,} {dr:>11,}")
        if (pk, pr) != (dk, dr):
            differing.append(name)
    for name in differing:
        print(f"\n  {name}: rejects by reason")
        for tool, base in (("persona", cur), ("DuckDB", out)):
            rows = reasons(con, base / "_rejects" / f"{name}.parquet")
            print(f"    {tool:<8} " + ("; ".join(f"{r} {n:,}" for r, n in rows) or "none"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, metavar="DIR",
                    help="a raw project (persona gen --raw): ingest all of it instead of one order CSV")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, help="timed runs [default: 3, with --project 1]")
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-ingest"))
    ap.add_argument("--memory-limit", metavar="SIZE", help="passed to persona (e.g. 4GB)")
    args = ap.parse_args()
    check_binary()
    if args.project:
        project_main(args)
    else:
        orders_main(args)


if __name__ == "__main__":
    main()
