-- tag: lifecycle_stage
-- group: lifecycle
-- description: Where the customer is in their life with us: new (joined or first bought in the last 90 days), active (bought in the last 90 days), dormant (91 to 365 days), churned.
-- refresh: daily
-- from: customer_orders
WHEN as_of() - signup_date <= 90 OR as_of() - first_order_date <= 90 THEN label('new', '新客户')
WHEN days_since_last_order <= 90 THEN label('active', '活跃客户')
WHEN days_since_last_order <= 365 THEN label('dormant', '沉睡客户')
ELSE label('churned', '流失客户')
