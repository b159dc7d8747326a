-- The calibration summary of every buyer as of as_of(), in days: frequency (purchase days
-- after the first), recency, t and monetary_value (mean value of the repeat purchase days).
CREATE OR REPLACE VIEW clv_calibration AS
SELECT * FROM clv_summary('stg_sales', 'customer_id', 'order_date', 'amount');

-- The CLV models fitted on all buyers: BG/NBD for purchases, Gamma-Gamma for spend.
CREATE OR REPLACE VIEW clv_models AS
SELECT
    bgnbd_fit(frequency, recency, t) AS bgnbd,
    gamma_gamma_fit(frequency, monetary_value) AS gamma_gamma,
    count(*) AS customers
FROM clv_calibration;

-- Per buyer: purchases expected in the next 90 days, P(alive), churn risk = 1 - P(alive),
-- expected spend per purchase, and the 12-month CLV at 1% a month. BG/NBD holds a customer
-- without repeat purchases alive (P(alive) = 1); the churn_risk tag judges them by recency.
CREATE OR REPLACE VIEW customer_clv AS
WITH scored AS (
    SELECT
        s.*,
        bgnbd_expected_purchases(m.bgnbd, 90, s.frequency, s.recency, s.t) AS expected_purchases_90d,
        bgnbd_p_alive(m.bgnbd, s.frequency, s.recency, s.t) AS p_alive,
        gamma_gamma_expected_spend(m.gamma_gamma, s.frequency, s.monetary_value) AS expected_spend,
        clv(m.bgnbd, m.gamma_gamma, s.frequency, s.recency, s.t, s.monetary_value, 12, 0.01, 'days') AS clv_12m
    FROM clv_calibration s
    CROSS JOIN clv_models m
)
SELECT
    customer_id,
    frequency,
    recency,
    t,
    monetary_value,
    expected_purchases_90d,
    p_alive,
    1 - p_alive AS churn_risk,
    expected_spend,
    clv_12m
FROM scored;
