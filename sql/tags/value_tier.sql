-- tag: value_tier
-- group: value
-- description: The value tier from the RFM scores (rfm_segment preset 'tier'): 高价值客户, 普通客户, 潜在客户 or 流失风险客户.
-- refresh: daily
SELECT
    customer_id,
    tier AS value,
    CASE
        WHEN r_score IS NULL THEN 'no purchase yet'
        ELSE 'R' || r_score || ' F' || f_score || ' M' || m_score
    END AS reason
FROM customer_segments
