-- Order facts per customer as of as_of(): the base of recency, frequency and monetary value.
-- Every customer appears, with zero orders when they never bought.
CREATE OR REPLACE VIEW customer_orders AS
WITH per_customer AS (
    SELECT
        customer_id,
        count(*) FILTER (WHERE is_sale) AS orders,
        count(*) FILTER (WHERE status = 'refunded') AS refunded_orders,
        coalesce(sum(amount) FILTER (WHERE is_sale), 0) AS revenue,
        coalesce(sum(discount) FILTER (WHERE is_sale), 0) AS discounts,
        -- Dates of the first and last timestamps: one cast per customer, not one per order.
        CAST(min(order_ts) FILTER (WHERE is_sale) AS DATE) AS first_order_date,
        CAST(max(order_ts) FILTER (WHERE is_sale) AS DATE) AS last_order_date
    FROM stg_orders
    GROUP BY customer_id
)
SELECT
    c.customer_id,
    c.signup_date,
    coalesce(p.orders, 0) AS orders,
    coalesce(p.refunded_orders, 0) AS refunded_orders,
    coalesce(p.revenue, 0) AS revenue,
    coalesce(p.discounts, 0) AS discounts,
    CASE WHEN p.orders > 0 THEN p.revenue / p.orders END AS avg_order_value,
    p.first_order_date,
    p.last_order_date,
    as_of() - p.last_order_date AS days_since_last_order
FROM stg_customers c
LEFT JOIN per_customer p ON p.customer_id = c.customer_id;
