-- RFM of every customer who has bought, as of as_of(): recency_days since the last purchase,
-- frequency (completed orders), monetary (their revenue), and the r, f and m scores under
-- SET persona.rfm.method (quintile by default; see rfm_score for the methods and the tie rule:
-- tied values share a score).
CREATE OR REPLACE VIEW customer_rfm AS
WITH base AS (
    SELECT
        customer_id,
        days_since_last_order AS recency_days,
        orders AS frequency,
        CAST(revenue AS DOUBLE) AS monetary
    FROM customer_orders
    WHERE orders > 0
)
SELECT
    customer_id,
    recency_days,
    frequency,
    monetary,
    rfm_score('r', recency_days, current_setting('persona.rfm.method'), current_setting('persona.rfm.breaks')) OVER () AS r_score,
    rfm_score('f', frequency, current_setting('persona.rfm.method'), current_setting('persona.rfm.breaks')) OVER () AS f_score,
    rfm_score('m', monetary, current_setting('persona.rfm.method'), current_setting('persona.rfm.breaks')) OVER () AS m_score
FROM base;

-- Every customer's segments in persona.lang: the classic 11 RFM segments, the Chinese 8-class
-- model (cn8) and the value tier. Customers who never bought have no scores and the tier
-- 潜在客户 (Potential).
CREATE OR REPLACE VIEW customer_segments AS
SELECT
    c.customer_id,
    r.r_score,
    r.f_score,
    r.m_score,
    rfm_segment(r.r_score, r.f_score, r.m_score) AS segment,
    rfm_segment(r.r_score, r.f_score, r.m_score, 'cn8') AS cn8_segment,
    rfm_segment(r.r_score, r.f_score, r.m_score, 'tier') AS tier
FROM stg_customers c
LEFT JOIN customer_rfm r ON r.customer_id = c.customer_id;
