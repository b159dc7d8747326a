-- tag: loyalty_level
-- group: loyalty
-- description: The loyalty level the customer's points reach (persona.loyalty.levels).
-- refresh: daily
SELECT customer_id, loyalty_level AS value, points || ' points' AS reason
FROM loyalty_points
