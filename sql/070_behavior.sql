-- Behaviour views: web and app events up to the as-of date, cohort retention, the daily
-- funnel, and per-customer behaviour that joins into customer_360.

-- A project without an events source gets this empty one, so its behaviour views are empty
-- and customer_360 still loads (with no behaviour).
CREATE TABLE IF NOT EXISTS events (
    event_ts TIMESTAMP,
    customer_id BIGINT,
    device_id VARCHAR,
    session_id VARCHAR,
    event_type VARCHAR,
    product_id BIGINT,
    platform VARCHAR,
    search_query VARCHAR
);

-- Events up to the as-of date, with the event date and a visitor key: the customer when the
-- event is logged in, else the device.
CREATE OR REPLACE VIEW stg_events AS
SELECT
    event_ts,
    CAST(event_ts AS DATE) AS event_date,
    customer_id,
    coalesce('c' || CAST(customer_id AS VARCHAR), 'd' || device_id) AS visitor,
    device_id,
    session_id,
    event_type,
    product_id,
    platform,
    search_query
FROM events
WHERE event_ts < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP);

-- Monthly first-purchase cohorts: for months 1..12 after the month of the first purchase,
-- how many of the cohort's customers bought in that month (returned), and their share.
-- Months after the as-of date are not listed (they have not happened yet).
CREATE OR REPLACE VIEW cohort_retention AS
WITH months AS (
    SELECT DISTINCT customer_id, date_trunc('month', order_date) AS month
    FROM stg_sales
),
cohorts AS (
    SELECT customer_id, min(month) AS cohort FROM months GROUP BY customer_id
),
sizes AS (
    SELECT cohort, count(*) AS customers FROM cohorts GROUP BY cohort
),
returns AS (
    SELECT
        c.cohort,
        (date_part('year', m.month) - date_part('year', c.cohort)) * 12
            + date_part('month', m.month) - date_part('month', c.cohort) AS month_number,
        count(*) AS returned
    FROM months m
    JOIN cohorts c ON c.customer_id = m.customer_id
    WHERE m.month > c.cohort
    GROUP BY 1, 2
),
grid AS (
    SELECT s.cohort, s.customers, CAST(n.month_number AS BIGINT) AS month_number
    FROM sizes s
    CROSS JOIN (SELECT unnest(generate_series(1, 12)) AS month_number) n
    WHERE (date_part('year', as_of()) - date_part('year', s.cohort)) * 12
        + date_part('month', as_of()) - date_part('month', s.cohort) >= n.month_number
)
SELECT
    CAST(g.cohort AS DATE) AS cohort_month,
    g.customers,
    g.month_number,
    coalesce(r.returned, 0) AS returned,
    round(coalesce(r.returned, 0) / CAST(g.customers AS DOUBLE), 4) AS share
FROM grid g
LEFT JOIN returns r ON r.cohort = g.cohort AND r.month_number = g.month_number;

-- The view -> cart -> purchase funnel per day and channel (platform): the visitors who viewed
-- a product that day on that channel, how many added one to the cart within 7 days of such a
-- view, and how many then bought within the same 7 days. For each view, windows over the
-- visitor's events in time order find the first cart at or after it and the first purchase at
-- or after that cart; a chain fits in 7 days exactly when this earliest one does, so the
-- counts are window_funnel's default-mode levels, without joining every event to every day.
CREATE OR REPLACE VIEW funnel_daily AS
WITH purchases_after AS (
    SELECT visitor, platform, event_ts, event_date, event_type,
           min(CASE WHEN event_type = 'purchase' THEN event_ts END) OVER (
               PARTITION BY visitor, platform ORDER BY event_ts
               RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
           ) AS next_purchase
    FROM stg_events
    WHERE event_type IN ('view', 'cart', 'purchase')
),
chains AS (
    SELECT visitor, platform, event_ts, event_date, event_type,
           min(CASE WHEN event_type = 'cart' THEN event_ts END) OVER w AS next_cart,
           min(CASE WHEN event_type = 'cart' THEN next_purchase END) OVER w AS next_cart_purchase
    FROM purchases_after
    WINDOW w AS (
        PARTITION BY visitor, platform ORDER BY event_ts
        RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
    )
),
days AS (
    SELECT
        event_date AS day,
        platform,
        visitor,
        coalesce(bool_or(next_cart <= event_ts + INTERVAL '7 days'), false) AS carted,
        coalesce(bool_or(next_cart_purchase <= event_ts + INTERVAL '7 days'), false) AS purchased
    FROM chains
    WHERE event_type = 'view'
    GROUP BY 1, 2, 3
)
SELECT
    day,
    platform AS channel,
    count(*) AS viewed,
    count(*) FILTER (WHERE carted) AS carted,
    count(*) FILTER (WHERE purchased) AS purchased,
    round(count(*) FILTER (WHERE carted) / CAST(count(*) AS DOUBLE), 4) AS view_to_cart,
    round(count(*) FILTER (WHERE purchased) / CAST(count(*) AS DOUBLE), 4) AS view_to_purchase
FROM days
GROUP BY 1, 2;

-- Per logged-in customer: sessions (a new one after 30 minutes without an event, by
-- sessionize), average session length, product views per session, view-to-cart and
-- cart-to-purchase rates (events), the hour and platform seen most (ties: the earlier hour,
-- the first platform by name), and days since the last visit. Only the session figures need
-- the events in time order; the others are plain aggregates of stg_events.
CREATE OR REPLACE VIEW customer_behavior AS
WITH events AS (
    SELECT customer_id, event_ts, event_type, platform
    FROM stg_events
    WHERE customer_id IS NOT NULL
),
sessions AS (
    -- Sessions are numbered 1, 2, ... so the count is the largest number; a session's length
    -- is the sum of the gaps inside it, so the total is the sum of the gaps of 30 minutes or
    -- less. (Grouping by customer and session instead is much slower on sorted input.)
    SELECT
        customer_id,
        max(session) AS sessions,
        round(sum(CASE WHEN gap <= 1800 THEN gap ELSE 0 END) / 60.0 / max(session), 2)
            AS avg_session_minutes
    FROM (
        SELECT customer_id,
               sessionize(event_ts, INTERVAL '30 minutes') OVER w AS session,
               date_part('epoch', event_ts - lag(event_ts) OVER w) AS gap
        FROM events
        WINDOW w AS (PARTITION BY customer_id ORDER BY event_ts)
    ) numbered
    GROUP BY 1
),
rates AS (
    SELECT
        customer_id,
        count(*) FILTER (WHERE event_type = 'view') AS views,
        count(*) FILTER (WHERE event_type = 'cart') AS carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        as_of() - max(CAST(event_ts AS DATE)) AS days_since_last_visit
    FROM events
    GROUP BY 1
),
hours AS (
    SELECT customer_id, first_value(hour ORDER BY n DESC, hour) AS hour
    FROM (
        SELECT customer_id, CAST(date_part('hour', event_ts) AS INT) AS hour, count(*) AS n
        FROM events GROUP BY 1, 2
    ) h
    GROUP BY 1
),
devices AS (
    SELECT customer_id, first_value(platform ORDER BY n DESC, platform) AS platform
    FROM (SELECT customer_id, platform, count(*) AS n FROM events GROUP BY 1, 2) d
    GROUP BY 1
)
SELECT
    s.customer_id,
    s.sessions,
    s.avg_session_minutes,
    round(r.views / CAST(s.sessions AS DOUBLE), 2) AS pages_per_session,
    r.views,
    r.carts,
    r.purchases,
    round(r.carts / CAST(nullif(r.views, 0) AS DOUBLE), 4) AS view_to_cart_rate,
    round(r.purchases / CAST(nullif(r.carts, 0) AS DOUBLE), 4) AS cart_to_purchase_rate,
    h.hour AS preferred_hour,
    d.platform AS preferred_device,
    r.days_since_last_visit
FROM sessions s
JOIN rates r ON r.customer_id = s.customer_id
JOIN hours h ON h.customer_id = s.customer_id
JOIN devices d ON d.customer_id = s.customer_id;
