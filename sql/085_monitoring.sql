-- Monitoring: daily KPIs, monthly churn, KPIs per segment and tier, and campaign lift, as of
-- as_of(). Ready for a dashboard: one row per day, month, segment or campaign group.

-- A project without campaign sources gets these empty ones, so campaign_lift is empty and
-- the other views still load.
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id BIGINT,
    name VARCHAR,
    channel VARCHAR,
    offer VARCHAR,
    start_date DATE,
    end_date DATE
);

CREATE TABLE IF NOT EXISTS campaign_contacts (
    campaign_id BIGINT,
    customer_id BIGINT,
    test_group VARCHAR,
    contacted_at TIMESTAMP
);

-- One row per day with sales or visits: active customers (bought or were seen logged in),
-- new customers (their first purchase), orders and GMV (completed and shipped orders, as
-- revenue counts everywhere else), average order value, and the repeat-purchase rate (the
-- share of the day's buyers who had bought before).
CREATE OR REPLACE VIEW kpi_daily AS
WITH first_sale AS (
    SELECT customer_id, min(order_date) AS first_date FROM stg_sales GROUP BY customer_id
),
sales AS (
    SELECT
        s.order_date AS day,
        count(*) AS orders,
        sum(s.amount) AS gmv,
        count(DISTINCT s.customer_id) AS buyers,
        count(DISTINCT s.customer_id) FILTER (WHERE f.first_date = s.order_date) AS new_customers,
        count(DISTINCT s.customer_id) FILTER (WHERE f.first_date < s.order_date) AS repeat_buyers
    FROM stg_sales s
    JOIN first_sale f ON f.customer_id = s.customer_id
    GROUP BY s.order_date
),
active AS (
    SELECT day, count(DISTINCT customer_id) AS active_customers
    FROM (
        SELECT order_date AS day, customer_id FROM stg_orders
        UNION ALL
        SELECT event_date, customer_id FROM stg_events WHERE customer_id IS NOT NULL
    ) seen
    GROUP BY day
)
SELECT
    coalesce(s.day, a.day) AS day,
    coalesce(a.active_customers, 0) AS active_customers,
    coalesce(s.new_customers, 0) AS new_customers,
    coalesce(s.orders, 0) AS orders,
    coalesce(s.gmv, 0) AS gmv,
    CASE WHEN s.orders > 0 THEN round(CAST(s.gmv AS DOUBLE) / s.orders, 2) END AS avg_order_value,
    coalesce(s.buyers, 0) AS buyers,
    CASE WHEN s.buyers > 0 THEN round(s.repeat_buyers / CAST(s.buyers AS DOUBLE), 4) END AS repeat_purchase_rate
FROM sales s
FULL JOIN active a ON a.day = s.day;

-- Monthly churn of buyers. A buyer is active while their last purchase is at most 90 days
-- old and churns on the day it turns 90 days old with no purchase since (when that day is on
-- or before as_of()). A purchase after churning starts a new active spell. Per month:
-- active_at_start, spells started in the month (new and returning buyers), churned, and
-- churn_rate = churned / active_at_start.
CREATE OR REPLACE VIEW churn_rate_monthly AS
WITH days AS (
    SELECT DISTINCT customer_id, order_date FROM stg_sales
),
gaps AS (
    SELECT
        customer_id,
        order_date,
        CASE
            WHEN lag(order_date) OVER w IS NULL THEN 1
            WHEN order_date > lag(order_date) OVER w + INTERVAL '90 days' THEN 1
            ELSE 0
        END AS starts_spell
    FROM days
    WINDOW w AS (PARTITION BY customer_id ORDER BY order_date)
),
numbered AS (
    SELECT
        customer_id,
        order_date,
        sum(starts_spell) OVER (PARTITION BY customer_id ORDER BY order_date) AS spell
    FROM gaps
),
spells AS (
    SELECT
        min(order_date) AS started,
        max(order_date) + INTERVAL '90 days' AS churn_date
    FROM numbered
    GROUP BY customer_id, spell
),
events AS (
    SELECT date_trunc('month', started) AS month, 1 AS starts, 0 AS churns FROM spells
    UNION ALL
    SELECT date_trunc('month', churn_date), 0, 1 FROM spells WHERE churn_date <= as_of()
),
monthly AS (
    SELECT month, sum(starts) AS started, sum(churns) AS churned
    FROM events
    GROUP BY month
),
running AS (
    SELECT
        month,
        started,
        churned,
        coalesce(sum(started - churned) OVER (
            ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS active_at_start
    FROM monthly
)
SELECT
    CAST(month AS DATE) AS month,
    active_at_start,
    started,
    churned,
    CASE WHEN active_at_start > 0 THEN round(churned / CAST(active_at_start AS DOUBLE), 4) END AS churn_rate
FROM running
WHERE month <= as_of();

-- Size, revenue and CLV per RFM segment (scheme 'segment'; customers who never bought count
-- under their tier, 潜在客户 / Potential) and per value tier (scheme 'tier'): customers,
-- their share of all customers, revenue as of as_of() and its share, average 12-month CLV.
CREATE OR REPLACE VIEW segment_kpis AS
WITH base AS (
    SELECT
        s.customer_id,
        coalesce(s.segment, s.tier) AS segment,
        s.tier,
        CAST(o.revenue AS DOUBLE) AS revenue,
        v.clv_12m
    FROM customer_segments s
    LEFT JOIN customer_orders o ON o.customer_id = s.customer_id
    LEFT JOIN customer_clv v ON v.customer_id = s.customer_id
),
grouped AS (
    SELECT 'segment' AS scheme, segment AS name, count(*) AS customers, sum(revenue) AS revenue, avg(clv_12m) AS avg_clv_12m
    FROM base
    GROUP BY segment
    UNION ALL
    SELECT 'tier', tier, count(*), sum(revenue), avg(clv_12m)
    FROM base
    GROUP BY tier
),
totals AS (
    SELECT count(*) AS customers, sum(revenue) AS revenue FROM base
)
SELECT
    g.scheme,
    g.name,
    g.customers,
    round(g.customers / CAST(t.customers AS DOUBLE), 4) AS customer_share,
    round(coalesce(g.revenue, 0), 2) AS revenue,
    CASE WHEN t.revenue > 0 THEN round(coalesce(g.revenue, 0) / t.revenue, 4) END AS revenue_share,
    round(g.avg_clv_12m, 2) AS avg_clv_12m
FROM grouped g
CROSS JOIN totals t;

-- Treatment against control per campaign, overall (segment 'all' / '全部') and per RFM
-- segment (as of as_of(); tier for customers who never bought). A contact converts when the
-- customer buys between the contact and the campaign's end date. Rates, revenue per contacted
-- customer, absolute and relative lift, the two-proportion z-test's two-sided p-value (pooled)
-- and the 95% confidence interval of the difference (unpooled). `status` says when a lift
-- cannot be computed ('no control group', 'no treatment group'); the lift columns are then NULL.
CREATE OR REPLACE VIEW campaign_lift AS
WITH contacts AS (
    SELECT k.campaign_id, c.name AS campaign, c.end_date, k.customer_id, k.test_group, k.contacted_at
    FROM campaign_contacts k
    JOIN campaigns c ON c.campaign_id = k.campaign_id
    WHERE k.contacted_at < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP)
      AND k.test_group IN ('treatment', 'control')
),
outcomes AS (
    SELECT
        k.campaign_id,
        k.campaign,
        k.customer_id,
        k.test_group = 'treatment' AS treated,
        count(s.order_id) > 0 AS converted,
        coalesce(sum(CAST(s.amount AS DOUBLE)), 0) AS revenue
    FROM contacts k
    LEFT JOIN stg_sales s
        ON s.customer_id = k.customer_id
        AND s.order_ts >= k.contacted_at
        AND s.order_ts < CAST(k.end_date + INTERVAL '1 day' AS TIMESTAMP)
    GROUP BY k.campaign_id, k.campaign, k.customer_id, k.test_group
),
segmented AS (
    SELECT o.*, coalesce(g.segment, g.tier, label('unknown', '未知')) AS segment
    FROM outcomes o
    LEFT JOIN customer_segments g ON g.customer_id = o.customer_id
),
groups AS (
    SELECT campaign_id, campaign, label('all', '全部') AS segment, treated, converted, revenue FROM segmented
    UNION ALL
    SELECT campaign_id, campaign, segment, treated, converted, revenue FROM segmented
),
counts AS (
    SELECT
        campaign_id,
        campaign,
        segment,
        count(*) FILTER (WHERE treated) AS treatment_customers,
        count(*) FILTER (WHERE treated AND converted) AS treatment_conversions,
        coalesce(sum(revenue) FILTER (WHERE treated), 0) AS treatment_revenue,
        count(*) FILTER (WHERE NOT treated) AS control_customers,
        count(*) FILTER (WHERE NOT treated AND converted) AS control_conversions,
        coalesce(sum(revenue) FILTER (WHERE NOT treated), 0) AS control_revenue
    FROM groups
    GROUP BY campaign_id, campaign, segment
),
rates AS (
    SELECT
        *,
        CASE WHEN treatment_customers > 0 THEN treatment_conversions / CAST(treatment_customers AS DOUBLE) END AS pt,
        CASE WHEN control_customers > 0 THEN control_conversions / CAST(control_customers AS DOUBLE) END AS pc,
        (treatment_conversions + control_conversions)
            / CAST(treatment_customers + control_customers AS DOUBLE) AS pooled
    FROM counts
),
tested AS (
    SELECT
        *,
        pt - pc AS diff,
        CASE WHEN pooled > 0 AND pooled < 1 THEN
            (pt - pc) / sqrt(pooled * (1 - pooled) * (1.0 / treatment_customers + 1.0 / control_customers))
        END AS z,
        sqrt(pt * (1 - pt) / treatment_customers + pc * (1 - pc) / control_customers) AS se
    FROM rates
)
SELECT
    campaign_id,
    campaign,
    segment,
    treatment_customers,
    control_customers,
    round(pt, 4) AS treatment_conversion,
    round(pc, 4) AS control_conversion,
    round(treatment_revenue / nullif(treatment_customers, 0), 2) AS treatment_revenue_per_customer,
    round(control_revenue / nullif(control_customers, 0), 2) AS control_revenue_per_customer,
    round(diff, 4) AS absolute_lift,
    CASE WHEN pc > 0 THEN round(diff / pc, 4) END AS relative_lift,
    CASE
        WHEN z IS NOT NULL THEN 2 * normal_cdf(-abs(z))
        WHEN diff IS NOT NULL THEN 1.0
    END AS p_value,
    round(diff - 1.959963984540054 * se, 4) AS ci95_low,
    round(diff + 1.959963984540054 * se, 4) AS ci95_high,
    CASE
        WHEN control_customers = 0 THEN 'no control group'
        WHEN treatment_customers = 0 THEN 'no treatment group'
        ELSE 'ok'
    END AS status
FROM tested;
