#!/usr/bin/env python3
"""Sentiment throughput, persona side by side with the Python packages a user would pick.

    python3 benches/sentiment.py [--rows 200000] [--runs 5] [--data DIR]

Needs a release build (`cargo build --release`; the binary is found through CARGO_TARGET_DIR)
and the PyPI packages pyarrow, vaderSentiment and snownlp; run it with the Python that has them,
e.g. `python3 -m venv /tmp/bv && /tmp/bv/bin/pip install pyarrow vaderSentiment snownlp`, then
`/tmp/bv/bin/python benches/sentiment.py`. On one core each, in one run, it measures texts per
second for three sets of texts, each repeated to --rows rows in a Parquet file:

- zh short: the Chinese comments and feedback of the bundled sample (about 12 characters);
- zh reviews: the Chinese reviews of datasets/sentiment/zh (about 90 characters);
- en: the English sentences of datasets/sentiment/en (about 60 characters).

persona runs `SELECT sum(sentiment(text))` over the file with one partition
(`datafusion.execution.target_partitions = 1`), after a first query that loads its models; the
time is persona's own query time (its footer line), the median of --runs runs. vaderSentiment
(English) and snownlp (Chinese) score a slice of the same texts in a loop in this process, after
their own warm-up; their rate is the median of --runs runs too. persona's and vaderSentiment's
scores are checked equal on the English texts (to 4 decimals; VADER rounds there).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/persona-target"))
PERSONA = TARGET / "release" / "persona"
ROOT = Path(__file__).resolve().parent.parent


def persona_rows(sql: str):
    out = subprocess.run(
        [str(PERSONA), "--project", str(ROOT / "datasets"), "--format", "tsv", "-c", sql],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()[1:]]


def texts(kind: str):
    if kind == "zh short":
        rows = persona_rows(
            "SELECT text FROM text_sentiment WHERE language = 'zh' ORDER BY source, source_id")
        return [r[0] for r in rows]
    if kind == "zh reviews":
        out = []
        for name in ("train_pos.txt", "train_neg.txt"):
            out += [t for t in (ROOT / "datasets/sentiment/zh" / name).read_text().splitlines() if t]
        return out
    out = []
    for name in ("amazon.json", "yelp.json"):
        out += [r["text"] for r in json.loads((ROOT / "datasets/sentiment/en" / name).read_text())
                if r.get("class") is not None]
    return out


def write_parquet(path: Path, values, rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq
    repeated = [values[i % len(values)] for i in range(rows)]
    pq.write_table(pa.table({"text": repeated}), path)


def persona_time(path: Path) -> float:
    out = subprocess.run(
        [str(PERSONA), "--maxrows", "0",
         "-c", "SET datafusion.execution.target_partitions = 1",
         "-c", "SELECT sentiment('好') + sentiment('good')",
         "-c", f"SELECT sum(sentiment(text)) FROM '{path}'"],
        check=True, capture_output=True, text=True).stdout
    return float(re.findall(r"· ([0-9.]+) s", out)[-1])


def python_rate(score, values, runs: int) -> float:
    for t in values[:200]:
        score(t)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for t in values:
            score(t)
        rates.append(len(values) / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, default=Path("/tmp/persona-bench-sentiment"))
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    from snownlp import SnowNLP
    vader = SentimentIntensityAnalyzer()

    en = texts("en")
    ours = []
    for name in ("amazon.json", "yelp.json"):
        # One file is read in order, so the scores line up with the texts.
        ours += persona_rows(
            f"CREATE EXTERNAL TABLE t STORED AS JSON LOCATION 'datasets/sentiment/en/{name}' "
            "OPTIONS ('format.newline_delimited' 'false'); "
            "SELECT round(sentiment(text), 4) FROM t WHERE class IS NOT NULL")
    differ = sum(1 for t, (s,) in zip(en, ours)
                 if abs(vader.polarity_scores(t)["compound"] - float(s)) > 1e-9)
    print(f"English scores differing from vaderSentiment: {differ} of {len(en)}")

    print(f"\n{args.rows:,} texts per set, one core, medians of {args.runs} runs\n")
    print("| texts | avg chars | persona texts/s | Python package | its texts/s | persona / package |")
    print("|---|---:|---:|---|---:|---:|")
    for kind in ("zh short", "zh reviews", "en"):
        values = texts(kind)
        path = args.data / (kind.replace(" ", "_") + ".parquet")
        if not path.exists():
            write_parquet(path, values, args.rows)
        secs = statistics.median(persona_time(path) for _ in range(args.runs))
        ours = args.rows / secs
        if kind.startswith("zh"):
            name, rate = "snownlp 0.12.3", python_rate(lambda t: SnowNLP(t).sentiments,
                                                       values[:2000], args.runs)
        else:
            name, rate = "vaderSentiment 3.3.2", python_rate(
                lambda t: vader.polarity_scores(t)["compound"], values, args.runs)
        chars = statistics.mean(len(v) for v in values)
        print(f"| {kind} | {chars:.0f} | {ours:,.0f} | {name} | {rate:,.0f} | {ours / rate:.0f}x |")


if __name__ == "__main__":
    main()
