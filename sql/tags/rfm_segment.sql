-- tag: rfm_segment
-- group: value
-- description: The classic RFM segment (Champions ... Lost) of customers who have bought.
-- refresh: daily
SELECT
    customer_id,
    segment AS value,
    'R' || r_score || ' F' || f_score || ' M' || m_score AS reason
FROM customer_segments
WHERE segment IS NOT NULL
