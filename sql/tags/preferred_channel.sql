-- tag: preferred_channel
-- group: preference
-- description: The channel of most of the customer's completed orders (ties: the latest order's channel).
-- refresh: weekly
WITH per_channel AS (
    SELECT customer_id, channel, count(*) AS orders, max(order_ts) AS latest
    FROM stg_sales
    WHERE channel IS NOT NULL
    GROUP BY customer_id, channel
), ranked AS (
    SELECT
        *,
        sum(orders) OVER (PARTITION BY customer_id) AS total,
        row_number() OVER (PARTITION BY customer_id ORDER BY orders DESC, latest DESC) AS rn
    FROM per_channel
)
SELECT customer_id, channel AS value, orders || ' of ' || total || ' orders' AS reason
FROM ranked
WHERE rn = 1
