#!/usr/bin/env python3
"""Load on `persona serve`: many concurrent clients running the profile views.

    python benches/serve_load.py [--clients 32] [--queries 200] [--project DIR]
                                 [--memory-limit 1GB] [--hog]

Needs a release build (`cargo build --release`; found through CARGO_TARGET_DIR) and psycopg
(`pip install "psycopg[binary]"`). It copies the project (default: the bundled sample) to a
scratch directory, adds a user, starts `persona serve` on a free loopback port, and runs
--clients threads, each with its own connection, each running --queries queries taken in turn
from QUERIES (profile views; point lookups and filters with bound parameters). It reports
throughput, latency percentiles, errors, and the server's peak resident memory (VmHWM).

With --hog, one more client runs HOG (a cross join of the events with themselves, billions of
rows) over and over while the others work: it should fail alone (53200 under the server's
--memory-limit, 1GB unless given) and the others should still be answered.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"

QUERIES = [
    ("catalogue", "SELECT table_name FROM information_schema.tables "
     "WHERE table_schema = 'public' ORDER BY 1", None),
    ("segment_kpis", "SELECT * FROM segment_kpis", None),
    ("customer_360 by id", "SELECT * FROM customer_360 WHERE customer_id = %s", "id"),
    ("tiers", "SELECT tier, count(*), avg(clv_12m) FROM customer_360 GROUP BY tier", None),
    ("kpi_daily", "SELECT * FROM kpi_daily ORDER BY day DESC LIMIT 30", None),
    ("campaign_lift", "SELECT * FROM campaign_lift WHERE campaign_id = %s", "campaign"),
    ("customer_segments", "SELECT * FROM customer_segments WHERE tier = %s", "tier"),
    ("segment counts", "SELECT segment, count(*) FROM customer_segments GROUP BY 1", None),
]

HOG = "SELECT a.*, b.* FROM events a CROSS JOIN events b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--project", type=Path, default=ROOT / "datasets" / "sample")
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--hog", action="store_true")
    args = ap.parse_args()
    if args.hog and args.memory_limit is None:
        args.memory_limit = "1GB"

    scratch = Path(tempfile.mkdtemp(prefix="persona-serve-load-"))
    project = scratch / "project"
    shutil.copytree(args.project, project)
    with open(project / "persona.toml", "a") as f:
        f.write('\n[[user]]\nname = "load"\npassword_env = "PERSONA_LOAD_PW"\n')
    port = free_port()
    env = dict(os.environ, PERSONA_LOAD_PW="load test")
    limit = ["--memory-limit", args.memory_limit] if args.memory_limit else []
    server = subprocess.Popen(
        [str(PERSONA), *limit, "serve", "--listen", f"127.0.0.1:{port}",
         "--max-connections", str(args.clients + 4)],
        cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        if "listening" not in line:
            sys.exit(f"the server did not start: {line}")
        threading.Thread(target=lambda: server.stderr.read(), daemon=True).start()
        params = dict(host="127.0.0.1", port=port, user="load", password="load test",
                      dbname="persona", sslmode="disable")
        with psycopg.connect(**params) as c:
            tiers = [r[0] for r in c.execute("SELECT DISTINCT tier FROM customer_segments")]
            ids = [r[0] for r in c.execute("SELECT customer_id FROM customers LIMIT 500")]
            campaigns = [r[0] for r in c.execute("SELECT campaign_id FROM campaigns")]
        values = {"id": ids, "tier": tiers, "campaign": campaigns}

        latencies: dict[str, list[float]] = {name: [] for name, _, _ in QUERIES}
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients + 1)

        def client(k: int) -> None:
            mine: list[tuple[str, float]] = []
            try:
                with psycopg.connect(**params) as conn:
                    barrier.wait()
                    for i in range(args.queries):
                        name, sql, kind = QUERIES[(k + i) % len(QUERIES)]
                        arg = None if kind is None else (values[kind][(k * 7 + i) % len(values[kind])],)
                        t0 = time.perf_counter()
                        try:
                            conn.execute(sql, arg).fetchall()
                            mine.append((name, time.perf_counter() - t0))
                        except psycopg.Error as e:
                            with lock:
                                errors.append(f"{name}: {e}")
            except Exception as e:  # a connection that failed counts all its queries
                with lock:
                    errors.append(f"client {k}: {e}")
                try:
                    barrier.wait(timeout=1)
                except threading.BrokenBarrierError:
                    pass
            with lock:
                for name, t in mine:
                    latencies[name].append(t)

        done = threading.Event()
        hog_runs: list[str] = []

        def hog() -> None:
            # Autocommit: a failed statement must not leave the connection in an aborted
            # transaction, where every later one would be refused without running.
            with psycopg.connect(**params, autocommit=True) as conn:
                while not done.is_set():
                    try:
                        conn.execute(HOG).fetchall()
                        hog_runs.append("finished")
                    except psycopg.Error as e:
                        hog_runs.append(e.sqlstate or "?")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        hog_thread = threading.Thread(target=hog, daemon=True) if args.hog else None
        barrier.wait()
        if hog_thread:
            hog_thread.start()
        started = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        done.set()
        if hog_thread:
            hog_thread.join(timeout=60)
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(scratch, ignore_errors=True)

    every = sorted(t for ts in latencies.values() for t in ts)
    n = len(every)
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000
    print(f"{args.clients} clients x {args.queries} queries: {n} answered, {len(errors)} errors "
          f"in {wall:.1f} s = {n / wall:.1f} queries/s; p50 {pct(every, 0.5):.0f} ms, "
          f"p99 {pct(every, 0.99):.0f} ms, max {every[-1] * 1000:.0f} ms; "
          f"server peak RSS {rss:.0f} MB")
    if args.hog:
        print(f"cross join client: {len(hog_runs)} runs, answers "
              f"{ {c: hog_runs.count(c) for c in set(hog_runs)} }; "
              f"server --memory-limit {args.memory_limit}")
    print("| query | runs | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, ts in latencies.items():
        ts.sort()
        if ts:
            print(f"| {name} | {len(ts)} | {pct(ts, 0.5):.0f} | {pct(ts, 0.99):.0f} |")
    for e in errors[:10]:
        print("error:", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
