-- Staging views: the sources as every later view reads them, cut at the as-of date.
-- Each stage is a plain projection, cheap to inline wherever it is referenced.

-- Customers with their age and tenure in days as of as_of().
CREATE OR REPLACE VIEW stg_customers AS
SELECT
    customer_id,
    name,
    gender,
    birth_date,
    CAST(floor((as_of() - birth_date) / 365.25) AS INT) AS age,
    phone,
    email,
    city,
    province,
    signup_date,
    signup_channel,
    as_of() - signup_date AS tenure_days
FROM customers
WHERE signup_date <= as_of();

-- Orders placed up to the as-of date, with the order date and whether the order counts as a
-- sale (completed or shipped; refunded and cancelled orders do not).
CREATE OR REPLACE VIEW stg_orders AS
SELECT
    order_id,
    customer_id,
    order_ts,
    CAST(order_ts AS DATE) AS order_date,
    channel,
    status,
    status IN ('completed', 'shipped') AS is_sale,
    gross_amount,
    discount,
    amount,
    item_count,
    campaign_id
FROM orders
WHERE order_ts < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP);

-- The sales among stg_orders (completed or shipped orders): what the value models count.
CREATE OR REPLACE VIEW stg_sales AS
SELECT * FROM stg_orders WHERE is_sale;
