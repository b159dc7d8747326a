-- description: No order's discount exceeds its gross amount.
-- severity: error
SELECT order_id, gross_amount, discount
FROM orders
WHERE discount > gross_amount
