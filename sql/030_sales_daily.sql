-- Sales per day up to the as-of date: orders, buying customers, revenue, average order value.
CREATE OR REPLACE VIEW sales_daily AS
SELECT
    order_date,
    count(*) AS orders,
    count(DISTINCT customer_id) AS customers,
    sum(amount) AS revenue,
    avg(amount) AS avg_order_value
FROM stg_orders
WHERE is_sale
GROUP BY order_date;
