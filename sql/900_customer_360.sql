-- One row per customer: profile, order facts, RFM, segments and tier, CLV, loyalty, every tag
-- as 'tag=value' in a list, web and app behaviour, sentiment, and the marketing action. The view analysts start from.
CREATE OR REPLACE VIEW customer_360 AS
WITH tags AS (
    -- Sorted after aggregating: array_agg(… ORDER BY tag) sorted inside every group state and
    -- took 1.3 s at 30,000 customers against 25 ms. Tag names are letters, digits and '_', so
    -- 'tag=value' sorts by tag except where one name extends another with a digit.
    SELECT customer_id, array_sort(array_agg(tag || '=' || value)) AS tags
    FROM customer_tags
    GROUP BY customer_id
)
SELECT
    c.customer_id,
    c.name,
    c.gender,
    c.age,
    c.city,
    c.province,
    c.signup_date,
    c.signup_channel,
    c.tenure_days,
    o.orders,
    o.revenue,
    o.avg_order_value,
    o.first_order_date,
    o.last_order_date,
    r.recency_days,
    r.r_score,
    r.f_score,
    r.m_score,
    s.segment,
    s.cn8_segment,
    s.tier,
    v.p_alive,
    v.churn_risk,
    v.expected_purchases_90d,
    v.expected_spend,
    v.clv_12m,
    l.points AS loyalty_points,
    l.loyalty_level,
    t.tags,
    b.sessions,
    b.avg_session_minutes,
    b.pages_per_session,
    b.view_to_cart_rate,
    b.cart_to_purchase_rate,
    b.preferred_hour,
    b.preferred_device,
    b.days_since_last_visit,
    st.texts AS sentiment_texts,
    st.avg_sentiment,
    st.negative_share,
    st.sentiment_trend,
    a.action
FROM stg_customers c
LEFT JOIN customer_orders o ON o.customer_id = c.customer_id
LEFT JOIN customer_rfm r ON r.customer_id = c.customer_id
LEFT JOIN customer_segments s ON s.customer_id = c.customer_id
LEFT JOIN customer_clv v ON v.customer_id = c.customer_id
LEFT JOIN loyalty_points l ON l.customer_id = c.customer_id
LEFT JOIN tags t ON t.customer_id = c.customer_id
LEFT JOIN customer_behavior b ON b.customer_id = c.customer_id
LEFT JOIN customer_sentiment st ON st.customer_id = c.customer_id
LEFT JOIN marketing_actions a ON a.customer_id = c.customer_id;
