#!/usr/bin/env python3
"""One query on one engine at one scale, as a whole process (suite.py runs it).

  python3 engines.py ENGINE QUERY SCALE [--print] [--threads]
Data are read from $BENCH_DATA/SCALE/{customers,orders,web_events}/ (gen.py writes them), Q4's
files go to $BENCH_OUT/ENGINE/SCALE/.
  ENGINE: duckdb | datafusion | polars (lazy API) | polars_sql | chdb      QUERY: q1..q4     SCALE: small|medium|large
Q1-Q3 fetch the (small) result into Python; Q4 writes out/ENGINE/SCALE/customer_360.parquet.
--print prints the result as JSON lines (used by verify.py); --threads prints the thread setting.
"""
import json
import os
import sys

os.environ.setdefault("TZ", "UTC")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import queries  # noqa: E402

TABLES = ("customers", "orders", "web_events")


DATA = os.environ.get("BENCH_DATA", os.path.join(HERE, "data"))
OUT = os.environ.get("BENCH_OUT", os.path.join(HERE, "out"))


def paths(scale):
    return {t: os.path.join(DATA, scale, t) for t in TABLES}


def out_path(engine, scale):
    d = os.path.join(OUT, engine, scale)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "customer_360.parquet")


def to_rows(columns, rows):
    return [dict(zip(columns, r)) for r in rows]


# ---------------------------------------------------------------------------------- DuckDB
def run_duckdb(q, scale, show_threads):
    import duckdb
    con = duckdb.connect()
    if show_threads:
        print("duckdb", duckdb.__version__, "threads =", con.execute("SELECT current_setting('threads')").fetchone()[0])
    if q == "q0":
        return to_rows(["x"], con.execute("SELECT 1").fetchall())
    tabs = {t: f"read_parquet('{p}/*.parquet')" for t, p in paths(scale).items()}
    text = queries.sql("duckdb", q, tabs)
    if q in ("q4", "q4b"):
        con.execute(f"COPY ({text}) TO '{out_path('duckdb', scale)}' (FORMAT PARQUET, COMPRESSION ZSTD)")
        return None
    rel = con.execute(text)
    cols = [d[0] for d in rel.description]
    return to_rows(cols, rel.fetchall())


# ------------------------------------------------------------------------------ DataFusion
def run_datafusion(q, scale, show_threads):
    import datafusion
    from datafusion import SessionContext
    ctx = SessionContext()
    if show_threads:
        v = ctx.sql("SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.target_partitions'")
        print("datafusion", datafusion.__version__, "target_partitions =", v.to_pylist()[0]["value"])
    if q == "q0":
        return ctx.sql("SELECT 1 AS x").to_pylist()
    for t, p in paths(scale).items():
        ctx.register_parquet(t, p + "/")
    # Q4 as written (grouped COUNT(DISTINCT <string>) beside other aggregates) grew past
    # 21 GB at 10M orders in DataFusion 55; its two-level form (q4b) gives the same answer.
    text = queries.sql("datafusion", "q4b" if q == "q4" else q, {t: t for t in TABLES})
    if q in ("q4", "q4b"):
        ctx.sql(f"COPY ({text}) TO '{out_path('datafusion', scale)}' STORED AS PARQUET "
                "OPTIONS ('format.compression' 'zstd(3)')").collect()
        return None
    return ctx.sql(text).to_pylist()


# -------------------------------------------------------------------------------- chDB
def run_chdb(q, scale, show_threads):
    import chdb
    settings = " SETTINGS session_timezone = 'UTC', join_use_nulls = 1, output_format_json_quote_decimals = 1"
    if show_threads:
        print("chdb", chdb.__version__, "ClickHouse", chdb.query("SELECT version()", "CSV").bytes().decode().strip(),
              "max_threads =", chdb.query("SELECT getSetting('max_threads')", "CSV").bytes().decode().strip())
    if q == "q0":
        return to_rows(["x"], json.loads(chdb.query("SELECT 1 AS x", "JSONCompact").bytes())["data"])
    tabs = {t: f"file('{p}/*.parquet', Parquet)" for t, p in paths(scale).items()}
    text = queries.sql("chdb", q, tabs)
    if q == "q4":
        op = out_path("chdb", scale)
        chdb.query(f"INSERT INTO FUNCTION file('{op}', Parquet) {text}" + settings +
                   ", engine_file_truncate_on_insert = 1, output_format_parquet_compression_method = 'zstd'",
                   "Null")
        return None
    res = chdb.query(text + settings, "JSONCompact")
    doc = json.loads(res.bytes())
    cols = [m["name"] for m in doc["meta"]]
    return to_rows(cols, doc["data"])


# ------------------------------------------------------------------------------- Polars
def run_polars(q, scale, show_threads):
    import polars as pl
    if show_threads:
        print("polars", pl.__version__, "thread_pool_size =", pl.thread_pool_size())
    if q == "q0":
        return pl.select(x=pl.lit(1)).to_dicts()
    p = paths(scale)
    orders = pl.scan_parquet(p["orders"] + "/*.parquet")
    events = pl.scan_parquet(p["web_events"] + "/*.parquet")
    customers = pl.scan_parquet(p["customers"] + "/*.parquet")
    valid = pl.col("status").is_in(["completed", "shipped"])

    if q == "q1":
        cust = (orders.filter(valid)
                .group_by("customer_id")
                .agg(last=pl.col("order_ts").max(), frequency=pl.len(), monetary=pl.col("amount").sum())
                .with_columns(recency_days=(pl.date(2025, 1, 1) - pl.col("last").dt.date()).dt.total_days())
                .drop("last"))

        def ntile(by, desc, name, lf):
            n = pl.len()
            i = pl.col("_i").cast(pl.Int64)
            qq = n // 5
            rr = n % 5
            bucket = (pl.when(i < rr * (qq + 1)).then(i // (qq + 1) + 1)
                      .otherwise((i - rr) // qq + 1))
            return (lf.sort(by, descending=desc).with_row_index("_i")
                    .with_columns(bucket.alias(name)).drop("_i"))

        s = ntile(["recency_days", "customer_id"], [True, False], "r", cust)
        s = ntile(["frequency", "customer_id"], [False, False], "f", s)
        s = ntile(["monetary", "customer_id"], [False, False], "m", s)
        r, f = pl.col("r"), pl.col("f")
        seg = (pl.when((r >= 4) & (f >= 4)).then(pl.lit("Champions"))
               .when((r >= 3) & (f >= 3)).then(pl.lit("Loyal"))
               .when((r >= 4) & (f == 1)).then(pl.lit("New"))
               .when(r >= 4).then(pl.lit("Potential Loyalist"))
               .when(r == 3).then(pl.lit("Need Attention"))
               .when(f >= 3).then(pl.lit("At Risk"))
               .when(r == 2).then(pl.lit("About To Sleep"))
               .otherwise(pl.lit("Hibernating")))
        out = (s.with_columns(segment=seg)
               .group_by("segment")
               .agg(customers=pl.len(),
                    sum_monetary=pl.col("monetary").sum(),
                    avg_monetary=pl.col("monetary").cast(pl.Float64).mean(),
                    avg_recency_days=pl.col("recency_days").cast(pl.Float64).mean(),
                    avg_frequency=pl.col("frequency").cast(pl.Float64).mean(),
                    avg_m_score=pl.col("m").cast(pl.Float64).mean())
               .sort("segment"))
        return out.collect().to_dicts()

    if q == "q2":
        o = orders.filter(valid).select(
            "customer_id",
            m=pl.col("order_ts").dt.year().cast(pl.Int32) * 12 + pl.col("order_ts").dt.month().cast(pl.Int32) - 1)
        f = o.group_by("customer_id").agg(m0=pl.col("m").min())
        act = (o.join(f, on="customer_id")
               .with_columns(k=pl.col("m") - pl.col("m0"))
               .filter(pl.col("k").is_between(1, 6))
               .select("customer_id", "m0", "k").unique())
        ret = (act.group_by("m0", "k").agg(n=pl.len())
               .group_by("m0")
               .agg([pl.col("n").filter(pl.col("k") == i).sum().alias(f"c{i}") for i in range(1, 7)]))
        sizes = f.group_by("m0").agg(size=pl.len())
        out = (sizes.join(ret, on="m0", how="left")
               .with_columns([pl.col(f"c{i}").fill_null(0) for i in range(1, 7)])
               .rename({"m0": "cohort"}).sort("cohort"))
        return out.collect().to_dicts()

    if q == "q3":
        ts, et = pl.col("event_ts"), pl.col("event_type")
        v = events.filter(et == "view").group_by("customer_id").agg(v_ts=ts.min())
        c = (events.filter(et == "cart").join(v, on="customer_id")
             .filter((ts >= pl.col("v_ts")) & (ts <= pl.col("v_ts") + pl.duration(days=7)))
             .group_by("customer_id").agg(c_ts=ts.min(), v_ts=pl.col("v_ts").min()))
        p_ = (events.filter(et == "purchase").join(c, on="customer_id")
              .filter((ts >= pl.col("c_ts")) & (ts <= pl.col("v_ts") + pl.duration(days=7)))
              .select("customer_id").unique())
        a, b, d = pl.collect_all([v.select(pl.len()), c.select(pl.len()), p_.select(pl.len())])
        return [{"viewed": a.item(), "carted": b.item(), "purchased": d.item()}]

    if q == "q4":
        vo = valid
        oa = orders.group_by("customer_id").agg(
            n_orders=pl.len(),
            n_valid_orders=vo.sum(),
            n_refunds=(pl.col("status") == "refunded").sum(),
            total_spend=pl.col("amount").filter(vo).sum(),
            first_order_ts=pl.col("order_ts").min(),
            last_order_ts=pl.col("order_ts").max(),
            n_categories=pl.col("category").n_unique()
        ).with_columns(  # SQL semantics: SUM over no valid order is NULL, not 0
            total_spend=pl.when(pl.col("n_valid_orders") > 0).then(pl.col("total_spend")))
        et = pl.col("event_type")
        ea = events.group_by("customer_id").agg(
            n_events=pl.len(),
            n_views=(et == "view").sum(),
            n_carts=(et == "cart").sum(),
            n_purchases=(et == "purchase").sum(),
            last_event_ts=pl.col("event_ts").max(),
            n_products=pl.col("product_id").n_unique())
        zero = ["n_orders", "n_valid_orders", "n_refunds", "n_categories",
                "n_events", "n_views", "n_carts", "n_purchases", "n_products"]
        out = (customers.join(oa, on="customer_id", how="left")
               .join(ea, on="customer_id", how="left")
               .with_columns([pl.col(z).fill_null(0) for z in zero]))
        out.sink_parquet(out_path("polars", scale), compression="zstd")
        return None
    raise SystemExit("unknown query " + q)


# --------------------------------------------------------------------------- Polars SQL
def run_polars_sql(q, scale, show_threads):
    import polars as pl
    if show_threads:
        print("polars", pl.__version__, "thread_pool_size =", pl.thread_pool_size())
    if q == "q0":
        return pl.SQLContext().execute("SELECT 1 AS x").collect().to_dicts()
    frames = {t: pl.scan_parquet(p + "/*.parquet") for t, p in paths(scale).items()}
    ctx = pl.SQLContext(frames=frames)
    lf = ctx.execute(queries.sql("polars_sql", q, {t: t for t in TABLES}))
    if q == "q4":
        lf.sink_parquet(out_path("polars_sql", scale), compression="zstd")
        return None
    return lf.collect().to_dicts()


ENGINES = {"duckdb": run_duckdb, "polars_sql": run_polars_sql, "datafusion": run_datafusion, "chdb": run_chdb, "polars": run_polars}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    engine, q, scale = args
    rows = ENGINES[engine](q, scale, "--threads" in flags)
    if "--print" in flags and rows is not None:
        for r in rows:
            print(json.dumps(r, default=str, sort_keys=True))


if __name__ == "__main__":
    main()
