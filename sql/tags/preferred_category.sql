-- tag: preferred_category
-- group: preference
-- description: The product category the customer spent most on in completed orders.
-- refresh: weekly
WITH per_category AS (
    SELECT s.customer_id, p.category, sum(i.amount) AS spend
    FROM stg_sales s
    JOIN order_items i ON i.order_id = s.order_id
    JOIN products p ON p.product_id = i.product_id
    GROUP BY s.customer_id, p.category
), ranked AS (
    SELECT
        *,
        sum(spend) OVER (PARTITION BY customer_id) AS total,
        row_number() OVER (PARTITION BY customer_id ORDER BY spend DESC, category) AS rn
    FROM per_category
)
SELECT
    customer_id,
    category AS value,
    CAST(round(100 * spend / total) AS INT) || '% of spend' AS reason
FROM ranked
WHERE rn = 1 AND total > 0
