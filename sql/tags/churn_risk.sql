-- tag: churn_risk
-- group: risk
-- description: Churn risk band of buyers: from P(alive) of the BG/NBD model for repeat buyers, from days since the purchase for one-time buyers (whom BG/NBD always holds alive).
-- refresh: daily
-- from: customer_clv JOIN customer_orders USING (customer_id)
WHEN frequency > 0 AND churn_risk >= 0.7 THEN label('high', '高')
WHEN frequency > 0 AND churn_risk >= 0.3 THEN label('medium', '中')
WHEN frequency > 0 THEN label('low', '低')
WHEN days_since_last_order > 180 THEN label('high', '高')
WHEN days_since_last_order > 90 THEN label('medium', '中')
ELSE label('low', '低')
