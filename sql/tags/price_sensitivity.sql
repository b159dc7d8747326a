-- tag: price_sensitivity
-- group: preference
-- description: Share of the customer's completed orders bought with a discount: high (60% or more), medium (30% or more), low.
-- refresh: weekly
WITH shares AS (
    SELECT
        customer_id,
        count(*) AS orders,
        count(*) FILTER (WHERE discount > 0) AS discounted
    FROM stg_sales
    GROUP BY customer_id
)
SELECT
    customer_id,
    CASE
        WHEN discounted >= 0.6 * orders THEN label('high', '高')
        WHEN discounted >= 0.3 * orders THEN label('medium', '中')
        ELSE label('low', '低')
    END AS value,
    discounted || ' of ' || orders || ' orders discounted' AS reason
FROM shares
