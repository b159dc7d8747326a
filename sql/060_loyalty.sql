-- Loyalty points of every customer: persona.loyalty.points_per_order for each completed order
-- plus persona.loyalty.points_per_unit for each unit spent, and the level they reach under
-- persona.loyalty.levels (all three settable in persona.toml's [settings]).
CREATE OR REPLACE VIEW loyalty_points AS
WITH earned AS (
    SELECT
        customer_id,
        orders,
        revenue,
        orders * CAST(current_setting('persona.loyalty.points_per_order') AS DOUBLE)
            + CAST(revenue AS DOUBLE) * CAST(current_setting('persona.loyalty.points_per_unit') AS DOUBLE)
            AS earned
    FROM customer_orders
)
SELECT
    customer_id,
    orders,
    revenue,
    CAST(floor(earned) AS BIGINT) AS points,
    loyalty_level(earned) AS loyalty_level
FROM earned;

-- What to do for each value tier. A project edits it by declaring its own source named
-- tier_actions (same columns), or with INSERT/DELETE in a session; this default is created only
-- when the project has none.
CREATE TABLE IF NOT EXISTS tier_actions (
    tier VARCHAR,
    tier_en VARCHAR,
    action VARCHAR,
    action_en VARCHAR,
    channel VARCHAR
) AS VALUES
    ('高价值客户', 'High Value', 'VIP 专属服务与专享折扣', 'VIP service and exclusive discounts', 'account manager'),
    ('普通客户', 'Regular', '常规推荐与通用优惠', 'Regular recommendations and general offers', 'app push'),
    ('潜在客户', 'Potential', '产品介绍与试用优惠', 'Product information and trial offers', 'sms'),
    ('流失风险客户', 'Churn Risk', '挽回优惠', 'A win-back offer', 'sms');

-- Each customer's tier and the action tier_actions maps it to, in persona.lang.
CREATE OR REPLACE VIEW marketing_actions AS
SELECT
    s.customer_id,
    s.tier,
    label(a.action_en, a.action) AS action,
    a.channel
FROM customer_segments s
LEFT JOIN tier_actions a ON label(a.tier_en, a.tier) = s.tier;
