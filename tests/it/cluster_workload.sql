-- The workload the cluster test runs on the bundled sample, locally and on a Ballista cluster:
-- every statement's result must be the same. Ordered results, so rows compare line by line.

-- RFM and segment views, joined (a shuffle on customer_id).
SELECT s.segment, count(*) AS n, round(sum(r.monetary), 2) AS monetary
FROM customer_segments s JOIN customer_rfm r USING (customer_id)
GROUP BY s.segment ORDER BY s.segment;
SELECT r_score, f_score, m_score, count(*) AS n FROM customer_rfm GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- A funnel (window_funnel, a grouped aggregate with its own state).
SELECT level, count(*) AS customers FROM (
    SELECT customer_id, window_funnel(INTERVAL '7 days', event_ts,
        event_type = 'view', event_type = 'cart', event_type = 'purchase') AS level
    FROM stg_events WHERE customer_id IS NOT NULL GROUP BY customer_id)
GROUP BY level ORDER BY level;

-- Retention.
SELECT r, count(*) AS n FROM (
    SELECT retention(m = DATE '2024-01-01', m = DATE '2024-02-01', m = DATE '2024-03-01') AS r
    FROM (SELECT customer_id, date_trunc('month', event_ts) AS m FROM stg_events)
    GROUP BY customer_id)
GROUP BY r ORDER BY r;

-- A bitmap audience (a tag expression over tag_bitmaps) and a bitmap aggregate.
SELECT count(*) AS n, sum(customer_id) AS s FROM audience('(高价值客户 & active_30d) - churn_risk:高');
SELECT bitmap_count(bitmap_agg(customer_id)) AS n FROM customer_rfm WHERE r_score >= 4;

-- Functions reading the session's persona.* settings on the executors: std_date under
-- persona.date_order = 'dmy' reads 05-03-2024 as 5 March.
SELECT std_date(d) AS iso, count(*) AS n FROM (
    SELECT CASE WHEN customer_id % 2 = 0 THEN '05-03-2024' ELSE '2024/7/1' END AS d FROM customers)
GROUP BY 1 ORDER BY 1;
SELECT min(std_phone('138 1234 ' || lpad(CAST(customer_id % 10000 AS VARCHAR), 4, '0'))) AS p,
       count(DISTINCT mask_phone(phone)) AS masks
FROM customers;
