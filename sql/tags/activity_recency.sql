-- tag: activity_recency
-- group: activity
-- description: How recently the customer was last seen, on the site or app (events) or buying: active_7d, active_30d, active_90d or inactive.
-- refresh: daily
WITH seen AS (
    SELECT customer_id, CAST(event_ts AS DATE) AS day
    FROM events
    WHERE customer_id IS NOT NULL AND event_ts < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP)
    UNION ALL
    SELECT customer_id, order_date FROM stg_orders
), latest AS (
    SELECT customer_id, as_of() - max(day) AS days FROM seen GROUP BY customer_id
)
SELECT
    customer_id,
    CASE
        WHEN days <= 7 THEN 'active_7d'
        WHEN days <= 30 THEN 'active_30d'
        WHEN days <= 90 THEN 'active_90d'
        ELSE 'inactive'
    END AS value,
    'last seen ' || days || ' days before as_of()' AS reason
FROM latest
