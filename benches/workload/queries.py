"""The customer-profiling workload, one SQL text per engine dialect (+ Polars lazy API).

Semantics (identical across engines):
  valid order  = status IN ('completed','shipped')      (refunded / cancelled excluded)
  as-of date   = DATE '2025-01-01'
Q1 RFM: per customer with >=1 valid order: recency_days = days between date(last valid order)
    and 2025-01-01; frequency = #valid orders; monetary = SUM(amount) of valid orders.
    r = NTILE(5) OVER (ORDER BY recency_days DESC, customer_id)    (5 = most recent)
    f = NTILE(5) OVER (ORDER BY frequency, customer_id)
    m = NTILE(5) OVER (ORDER BY monetary, customer_id)
    (customer_id breaks ties so the bucket assignment is deterministic across engines)
    segment = CASE on (r, f); output per segment: customers, sum/avg monetary, avg r/f/m.
Q2 cohort retention: month index m = year*12 + month - 1 of each valid order; cohort m0 = min(m)
    per customer; for k = 1..6, count distinct customers of the cohort with a valid order in
    month m0 + k; output cohort, size, c1..c6 (shares = ck / size).
Q3 funnel (anchored on the first view, 7-day window from that view):
    viewed    = customers with >= 1 view; v_ts = first view
    carted    = of those, customers with a cart event in [v_ts, v_ts + 7 days]; c_ts = first such
    purchased = of those, customers with a purchase in [c_ts, v_ts + 7 days]
Q4 customer_360: customers LEFT JOIN per-customer order aggregates LEFT JOIN per-customer event
    aggregates (incl. COUNT DISTINCT category / product_id), written to one zstd Parquet file.
"""

SEGMENT_CASE = """CASE
      WHEN r >= 4 AND f >= 4 THEN 'Champions'
      WHEN r >= 3 AND f >= 3 THEN 'Loyal'
      WHEN r >= 4 AND f = 1 THEN 'New'
      WHEN r >= 4 THEN 'Potential Loyalist'
      WHEN r = 3 THEN 'Need Attention'
      WHEN f >= 3 THEN 'At Risk'
      WHEN r = 2 THEN 'About To Sleep'
      ELSE 'Hibernating' END"""

# --------------------------------------------------------------------------------------------
# ANSI-ish SQL shared by DuckDB and DataFusion; {recency}, {month_idx}, {plus7d} differ.
Q1_TEMPLATE = """
WITH cust AS (
  SELECT customer_id,
         {recency} AS recency_days,
         COUNT(*) AS frequency,
         SUM(amount) AS monetary
  FROM {orders}
  WHERE status IN ('completed', 'shipped')
  GROUP BY customer_id
), scored AS (
  SELECT customer_id, recency_days, frequency, monetary,
         NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r,
         NTILE(5) OVER (ORDER BY frequency, customer_id) AS f,
         NTILE(5) OVER (ORDER BY monetary, customer_id) AS m
  FROM cust
), seg AS (
  SELECT customer_id, recency_days, frequency, monetary, r, f, m,
    """ + SEGMENT_CASE + """ AS segment
  FROM scored
)
SELECT segment,
       COUNT(*) AS customers,
       SUM(monetary) AS sum_monetary,
       AVG(CAST(monetary AS DOUBLE)) AS avg_monetary,
       AVG(CAST(recency_days AS DOUBLE)) AS avg_recency_days,
       AVG(CAST(frequency AS DOUBLE)) AS avg_frequency,
       AVG(CAST(m AS DOUBLE)) AS avg_m_score
FROM seg
GROUP BY segment
ORDER BY segment
"""

Q2_TEMPLATE = """
WITH o AS (
  SELECT customer_id, {month_idx} AS m
  FROM {orders}
  WHERE status IN ('completed', 'shipped')
), f AS (
  SELECT customer_id, MIN(m) AS m0 FROM o GROUP BY customer_id
), act AS (
  SELECT o.customer_id, f.m0, o.m - f.m0 AS k
  FROM o JOIN f ON o.customer_id = f.customer_id
  WHERE o.m - f.m0 BETWEEN 1 AND 6
  GROUP BY o.customer_id, f.m0, o.m - f.m0
), ret AS (
  SELECT m0, k, COUNT(*) AS n FROM act GROUP BY m0, k
), sizes AS (
  SELECT m0, COUNT(*) AS size FROM f GROUP BY m0
)
SELECT s.m0 AS cohort, s.size AS size,
  COALESCE(SUM(CASE WHEN r.k = 1 THEN r.n END), 0) AS c1,
  COALESCE(SUM(CASE WHEN r.k = 2 THEN r.n END), 0) AS c2,
  COALESCE(SUM(CASE WHEN r.k = 3 THEN r.n END), 0) AS c3,
  COALESCE(SUM(CASE WHEN r.k = 4 THEN r.n END), 0) AS c4,
  COALESCE(SUM(CASE WHEN r.k = 5 THEN r.n END), 0) AS c5,
  COALESCE(SUM(CASE WHEN r.k = 6 THEN r.n END), 0) AS c6
FROM sizes s LEFT JOIN ret r ON s.m0 = r.m0
GROUP BY s.m0, s.size
ORDER BY s.m0
"""

Q3_TEMPLATE = """
WITH v AS (
  SELECT customer_id, MIN(event_ts) AS v_ts
  FROM {web_events} WHERE event_type = 'view'
  GROUP BY customer_id
), c AS (
  SELECT e.customer_id, MIN(e.event_ts) AS c_ts, MIN(v.v_ts) AS v_ts
  FROM {web_events} e JOIN v ON e.customer_id = v.customer_id
  WHERE e.event_type = 'cart' AND e.event_ts >= v.v_ts AND e.event_ts <= {v_plus7}
  GROUP BY e.customer_id
), p AS (
  SELECT e.customer_id
  FROM {web_events} e JOIN c ON e.customer_id = c.customer_id
  WHERE e.event_type = 'purchase' AND e.event_ts >= c.c_ts AND e.event_ts <= {c_v_plus7}
  GROUP BY e.customer_id
)
SELECT (SELECT COUNT(*) FROM v) AS viewed,
       (SELECT COUNT(*) FROM c) AS carted,
       (SELECT COUNT(*) FROM p) AS purchased
"""

Q4_SELECT = """
WITH oa AS (
  SELECT customer_id,
         COUNT(*) AS n_orders,
         COUNT(CASE WHEN status IN ('completed', 'shipped') THEN 1 END) AS n_valid_orders,
         COUNT(CASE WHEN status = 'refunded' THEN 1 END) AS n_refunds,
         SUM(CASE WHEN status IN ('completed', 'shipped') THEN amount END) AS total_spend,
         MIN(order_ts) AS first_order_ts,
         MAX(order_ts) AS last_order_ts,
         COUNT(DISTINCT category) AS n_categories
  FROM {orders}
  GROUP BY customer_id
), ea AS (
  SELECT customer_id,
         COUNT(*) AS n_events,
         COUNT(CASE WHEN event_type = 'view' THEN 1 END) AS n_views,
         COUNT(CASE WHEN event_type = 'cart' THEN 1 END) AS n_carts,
         COUNT(CASE WHEN event_type = 'purchase' THEN 1 END) AS n_purchases,
         MAX(event_ts) AS last_event_ts,
         COUNT(DISTINCT product_id) AS n_products
  FROM {web_events}
  GROUP BY customer_id
)
SELECT c.customer_id AS customer_id, c.signup_date AS signup_date, c.city AS city, c.gender AS gender,
       c.birth_year AS birth_year, c.channel AS channel,
       COALESCE(oa.n_orders, 0) AS n_orders,
       COALESCE(oa.n_valid_orders, 0) AS n_valid_orders,
       COALESCE(oa.n_refunds, 0) AS n_refunds,
       oa.total_spend AS total_spend,
       oa.first_order_ts AS first_order_ts, oa.last_order_ts AS last_order_ts,
       COALESCE(oa.n_categories, 0) AS n_categories,
       COALESCE(ea.n_events, 0) AS n_events,
       COALESCE(ea.n_views, 0) AS n_views,
       COALESCE(ea.n_carts, 0) AS n_carts,
       COALESCE(ea.n_purchases, 0) AS n_purchases,
       ea.last_event_ts AS last_event_ts,
       COALESCE(ea.n_products, 0) AS n_products
FROM {customers} c
LEFT JOIN oa ON c.customer_id = oa.customer_id
LEFT JOIN ea ON c.customer_id = ea.customer_id
"""

# Q4b: Q4 with COUNT(DISTINCT category) moved into its own two-level GROUP BY (oc). Used for
# DataFusion only: with the plain Q4 text, datafusion 55 (grouped COUNT(DISTINCT <string>) next
# to other aggregates, ~684k groups at medium) grew past 21 GB RSS and was OOM-killed.
Q4B_SELECT = """
WITH oa AS (
  SELECT customer_id,
         COUNT(*) AS n_orders,
         COUNT(CASE WHEN status IN ('completed', 'shipped') THEN 1 END) AS n_valid_orders,
         COUNT(CASE WHEN status = 'refunded' THEN 1 END) AS n_refunds,
         SUM(CASE WHEN status IN ('completed', 'shipped') THEN amount END) AS total_spend,
         MIN(order_ts) AS first_order_ts,
         MAX(order_ts) AS last_order_ts
  FROM {orders}
  GROUP BY customer_id
), oc AS (
  SELECT customer_id, COUNT(*) AS n_categories
  FROM (SELECT customer_id, category FROM {orders} GROUP BY customer_id, category) x
  GROUP BY customer_id
), ea AS (
  SELECT customer_id,
         COUNT(*) AS n_events,
         COUNT(CASE WHEN event_type = 'view' THEN 1 END) AS n_views,
         COUNT(CASE WHEN event_type = 'cart' THEN 1 END) AS n_carts,
         COUNT(CASE WHEN event_type = 'purchase' THEN 1 END) AS n_purchases,
         MAX(event_ts) AS last_event_ts,
         COUNT(DISTINCT product_id) AS n_products
  FROM {web_events}
  GROUP BY customer_id
)
SELECT c.customer_id AS customer_id, c.signup_date AS signup_date, c.city AS city, c.gender AS gender,
       c.birth_year AS birth_year, c.channel AS channel,
       COALESCE(oa.n_orders, 0) AS n_orders,
       COALESCE(oa.n_valid_orders, 0) AS n_valid_orders,
       COALESCE(oa.n_refunds, 0) AS n_refunds,
       oa.total_spend AS total_spend,
       oa.first_order_ts AS first_order_ts, oa.last_order_ts AS last_order_ts,
       COALESCE(oc.n_categories, 0) AS n_categories,
       COALESCE(ea.n_events, 0) AS n_events,
       COALESCE(ea.n_views, 0) AS n_views,
       COALESCE(ea.n_carts, 0) AS n_carts,
       COALESCE(ea.n_purchases, 0) AS n_purchases,
       ea.last_event_ts AS last_event_ts,
       COALESCE(ea.n_products, 0) AS n_products
FROM {customers} c
LEFT JOIN oa ON c.customer_id = oa.customer_id
LEFT JOIN oc ON c.customer_id = oc.customer_id
LEFT JOIN ea ON c.customer_id = ea.customer_id
"""

DIALECT = {
    "duckdb": dict(
        recency="date_diff('day', CAST(MAX(order_ts) AS DATE), DATE '2025-01-01')",
        month_idx="CAST(year(order_ts) * 12 + month(order_ts) - 1 AS INTEGER)",
        v_plus7="v.v_ts + INTERVAL 7 DAY",
        c_v_plus7="c.v_ts + INTERVAL 7 DAY",
    ),
    "datafusion": dict(
        recency="CAST(DATE '2025-01-01' - CAST(MAX(order_ts) AS DATE) AS BIGINT)",
        month_idx="CAST(date_part('year', order_ts) AS INT) * 12 + CAST(date_part('month', order_ts) AS INT) - 1",
        v_plus7="v.v_ts + INTERVAL '7 days'",
        c_v_plus7="c.v_ts + INTERVAL '7 days'",
    ),
    # Polars SQL: the DataFusion text runs unchanged, but DATE - DATE is a Duration there and
    # CAST(duration AS BIGINT) yields MICROSECONDS (172800000000 for 2 days) -> cast dates instead.
    "polars_sql": dict(
        recency="CAST(DATE '2025-01-01' AS INT) - CAST(CAST(MAX(order_ts) AS DATE) AS INT)",
        month_idx="CAST(date_part('year', order_ts) AS INT) * 12 + CAST(date_part('month', order_ts) AS INT) - 1",
        v_plus7="v.v_ts + INTERVAL '7 days'",
        c_v_plus7="c.v_ts + INTERVAL '7 days'",
    ),
    "chdb": dict(
        recency="dateDiff('day', toDate(MAX(order_ts)), toDate('2025-01-01'))",
        month_idx="toInt32(toYear(order_ts)) * 12 + toInt32(toMonth(order_ts)) - 1",
        v_plus7="v.v_ts + INTERVAL 7 DAY",
        c_v_plus7="c.v_ts + INTERVAL 7 DAY",
    ),
}


def sql(engine, q, tables):
    d = dict(DIALECT[engine])
    d.update(tables)
    t = {"q1": Q1_TEMPLATE, "q2": Q2_TEMPLATE, "q3": Q3_TEMPLATE, "q4": Q4_SELECT, "q4b": Q4B_SELECT}[q]
    return t.format(**d)


# ------------------------------------------------------------------------------------------
# Single-reference rewrites (each CTE used once), to test the cost of CTE re-execution:
# DataFusion inlines a CTE at every reference (Q2: 3 orders scans, Q3: 6 web_events scans in
# its physical plan), DuckDB materialises a CTE referenced more than once.
Q2S_TEMPLATE = """
WITH o AS (
  SELECT customer_id, {month_idx} AS m
  FROM {orders}
  WHERE status IN ('completed', 'shipped')
  GROUP BY customer_id, {month_idx}
), w AS (
  SELECT m - MIN(m) OVER (PARTITION BY customer_id) AS k,
         MIN(m) OVER (PARTITION BY customer_id) AS m0
  FROM o
)
SELECT m0 AS cohort,
  COUNT(CASE WHEN k = 0 THEN 1 END) AS size,
  COUNT(CASE WHEN k = 1 THEN 1 END) AS c1,
  COUNT(CASE WHEN k = 2 THEN 1 END) AS c2,
  COUNT(CASE WHEN k = 3 THEN 1 END) AS c3,
  COUNT(CASE WHEN k = 4 THEN 1 END) AS c4,
  COUNT(CASE WHEN k = 5 THEN 1 END) AS c5,
  COUNT(CASE WHEN k = 6 THEN 1 END) AS c6
FROM w
GROUP BY m0
ORDER BY m0
"""

Q3S_TEMPLATE = """
WITH v AS (
  SELECT customer_id, MIN(event_ts) AS v_ts
  FROM {web_events} WHERE event_type = 'view'
  GROUP BY customer_id
), x AS (
  SELECT v.customer_id, v.v_ts, MIN(e.event_ts) AS c_ts
  FROM v LEFT JOIN {web_events} e
    ON e.customer_id = v.customer_id AND e.event_type = 'cart'
   AND e.event_ts >= v.v_ts AND e.event_ts <= {v_plus7}
  GROUP BY v.customer_id, v.v_ts
), y AS (
  SELECT x.customer_id, x.c_ts, COUNT(e.customer_id) AS n_p
  FROM x LEFT JOIN {web_events} e
    ON e.customer_id = x.customer_id AND e.event_type = 'purchase'
   AND e.event_ts >= x.c_ts AND e.event_ts <= {x_v_plus7}
  GROUP BY x.customer_id, x.c_ts
)
SELECT COUNT(*) AS viewed, COUNT(c_ts) AS carted, COUNT(CASE WHEN n_p > 0 THEN 1 END) AS purchased
FROM y
"""


def sql(engine, q, tables):  # noqa: F811  (extends the first definition with q2s/q3s)
    d = dict(DIALECT[engine])
    d["x_v_plus7"] = d["v_plus7"].replace("v.v_ts", "x.v_ts")
    d.update(tables)
    t = {"q1": Q1_TEMPLATE, "q2": Q2_TEMPLATE, "q3": Q3_TEMPLATE, "q4": Q4_SELECT, "q4b": Q4B_SELECT,
         "q2s": Q2S_TEMPLATE, "q3s": Q3S_TEMPLATE}[q]
    return t.format(**d)


# ------------------------------------------------------------------------------------------
# persona: DataFusion's dialect plus persona's own functions, in the forms its views use.
# Q1: the three scores by ntile_by in one OVER (), which sorts the keys rather than whole
# rows, instead of three NTILE windows each sorting the customer table. Q2: one aggregation by customer with
# cohort_retention (the first month and the months after it that had orders), instead of
# joining the orders to each customer's first month. Q3: one pass over the events with
# window_funnel anchored on each customer's first view ('first_start'), the funnel semantics
# above, instead of three self-joins. Q4: the two-level GROUP BY for the distinct categories
# (q4b), whose memory stays bounded.
Q3_PERSONA = """
SELECT count(*) FILTER (WHERE level >= 1) AS viewed,
       count(*) FILTER (WHERE level >= 2) AS carted,
       count(*) FILTER (WHERE level >= 3) AS purchased
FROM (
  SELECT customer_id,
         window_funnel(INTERVAL '7 days', event_ts,
                       event_type = 'view', event_type = 'cart', event_type = 'purchase',
                       'first_start') AS level
  FROM {web_events}
  GROUP BY customer_id
)
"""


Q1_PERSONA = Q1_TEMPLATE.replace(
    """NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r,
         NTILE(5) OVER (ORDER BY frequency, customer_id) AS f,
         NTILE(5) OVER (ORDER BY monetary, customer_id) AS m""",
    """ntile_by(5, -recency_days, customer_id) OVER () AS r,
         ntile_by(5, frequency, customer_id) OVER () AS f,
         ntile_by(5, monetary, customer_id) OVER () AS m""")
assert Q1_PERSONA != Q1_TEMPLATE

Q2_PERSONA = """
SELECT cohort, count(*) AS size,
       sum(r[1]) AS c1, sum(r[2]) AS c2, sum(r[3]) AS c3,
       sum(r[4]) AS c4, sum(r[5]) AS c5, sum(r[6]) AS c6
FROM (
  SELECT min(m) AS cohort, cohort_retention(m, 6) AS r
  FROM (SELECT customer_id, {month_idx} AS m FROM {orders} WHERE status IN ('completed', 'shipped'))
  GROUP BY customer_id
)
GROUP BY cohort
ORDER BY cohort
"""


def persona_sql(q, tables):
    d = dict(DIALECT["datafusion"])
    d["x_v_plus7"] = d["v_plus7"].replace("v.v_ts", "x.v_ts")
    d.update(tables)
    t = {"q1": Q1_PERSONA, "q2": Q2_PERSONA, "q3": Q3_PERSONA, "q4": Q4B_SELECT}[q]
    return t.format(**d)
