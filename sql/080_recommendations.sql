-- Recommendations: for every customer, the ten products they have not bought that score
-- highest by item-to-item co-occurrence, then (to fill the ten, and for new customers) the
-- products most bought in their value tier.
--
-- A customer's interest in a product is the strongest of their signals: a purchase, an
-- add-to-cart or a view, weighted by persona.recs.purchase_weight, cart_weight and view_weight.
-- Two products are similar when the same customers are interested in both (the sum of the
-- products of their weights, divided by the square root of the products' total weights: a
-- cosine); each product keeps its 20 most similar. A candidate's score is the sum over the
-- customer's products of interest times similarity. Scores are ranked rounded to 9 digits, so
-- the order of floating-point sums cannot reorder tied products from one run to the next.
CREATE OR REPLACE VIEW recommendations AS
WITH bought AS (
    SELECT DISTINCT o.customer_id, i.product_id
    FROM stg_sales o
    JOIN order_items i ON i.order_id = o.order_id
),
interactions AS (
    SELECT customer_id, product_id, max(w) AS w
    FROM (
        SELECT customer_id, product_id,
               CAST(current_setting('persona.recs.purchase_weight') AS DOUBLE) AS w
        FROM bought
        UNION ALL
        SELECT customer_id, product_id,
               CASE event_type
                   WHEN 'cart' THEN CAST(current_setting('persona.recs.cart_weight') AS DOUBLE)
                   ELSE CAST(current_setting('persona.recs.view_weight') AS DOUBLE)
               END AS w
        FROM stg_events
        WHERE customer_id IS NOT NULL
          AND product_id IS NOT NULL
          AND event_type IN ('view', 'cart')
    ) signals
    WHERE w > 0
    GROUP BY customer_id, product_id
),
interest AS (
    SELECT product_id, sum(w * w) AS norm FROM interactions GROUP BY product_id
),
pairs AS (
    SELECT a.product_id AS p, b.product_id AS q, sum(a.w * b.w) AS together
    FROM interactions a
    JOIN interactions b ON a.customer_id = b.customer_id AND a.product_id <> b.product_id
    GROUP BY 1, 2
),
similar AS (
    SELECT p, q, sim
    FROM (
        SELECT p, q, sim, row_number() OVER (PARTITION BY p ORDER BY round(sim, 9) DESC, q) AS k
        FROM (
            SELECT pairs.p, pairs.q, pairs.together / sqrt(ip.norm * iq.norm) AS sim
            FROM pairs
            JOIN interest ip ON ip.product_id = pairs.p
            JOIN interest iq ON iq.product_id = pairs.q
        ) s
    ) ranked
    WHERE k <= 20
),
scored AS (
    SELECT i.customer_id, s.q AS product_id, sum(i.w * s.sim) AS score
    FROM interactions i
    JOIN similar s ON s.p = i.product_id
    GROUP BY 1, 2
),
customers AS (
    SELECT c.customer_id, coalesce(s.tier, 'all') AS segment
    FROM stg_customers c
    LEFT JOIN customer_segments s ON s.customer_id = c.customer_id
),
segment_popularity AS (
    SELECT segment, product_id, buyers
    FROM (
        SELECT segment, product_id, buyers,
               row_number() OVER (PARTITION BY segment ORDER BY buyers DESC, product_id) AS k
        FROM (
            SELECT c.segment, b.product_id, count(*) AS buyers
            FROM bought b JOIN customers c ON c.customer_id = b.customer_id
            GROUP BY 1, 2
            UNION ALL
            SELECT 'all', product_id, count(*) FROM bought GROUP BY 2
        ) counts
    ) ranked
    WHERE k <= 30
),
candidates AS (
    SELECT customer_id, product_id, 1 AS source, score, 'co-occurrence' AS reason
    FROM scored
    UNION ALL
    SELECT c.customer_id, p.product_id, 2, CAST(p.buyers AS DOUBLE), 'popular in segment'
    FROM customers c
    JOIN segment_popularity p ON p.segment = c.segment
),
unbought AS (
    SELECT c.*, row_number() OVER (PARTITION BY c.customer_id, c.product_id ORDER BY c.source) AS n
    FROM candidates c
    WHERE NOT EXISTS (
        SELECT 1 FROM bought b
        WHERE b.customer_id = c.customer_id AND b.product_id = c.product_id
    )
),
ranked AS (
    SELECT customer_id, product_id, score, reason,
           row_number() OVER (
               PARTITION BY customer_id ORDER BY source, round(score, 9) DESC, product_id
           ) AS rank
    FROM unbought
    WHERE n = 1
)
SELECT r.customer_id, r.rank, r.product_id, p.name AS product, p.category, round(r.score, 4) AS score, r.reason
FROM ranked r
JOIN products p ON p.product_id = r.product_id
WHERE r.rank <= 10;
