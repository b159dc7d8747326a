-- Recommendations: for every customer, the ten products they have not bought that score
-- highest by item-to-item co-occurrence, then (to fill the ten, and for new customers) the
-- products most bought in their value tier.
--
-- Signals are purchases, add-to-carts and views, weighted by persona.recs.purchase_weight,
-- cart_weight and view_weight. Two products are similar when they are bought in the same order
-- or looked at in the same session (the sum of the products of their weights over the square
-- root of each product's sum of squares: a cosine); each product keeps its 10 most similar.
-- A candidate's score is the sum, over the customer's 5 strongest interests (latest first
-- among equals), of interest times similarity. Pairs within orders and sessions, not within
-- whole customer histories, and bounded neighbours and interests keep the view linear in
-- customers. Scores are ranked rounded to 9 digits, so the order of floating-point sums cannot
-- reorder tied products from one run to the next.
CREATE OR REPLACE VIEW recommendations AS
WITH basket_items AS (
    -- One row per order or session and product: the strongest signal in it.
    SELECT basket, product_id, max(w) AS w
    FROM (
        SELECT 'o' || CAST(i.order_id AS VARCHAR) AS basket, i.product_id,
               CAST(current_setting('persona.recs.purchase_weight') AS DOUBLE) AS w
        FROM stg_sales o
        JOIN order_items i ON i.order_id = o.order_id
        UNION ALL
        SELECT 's' || session_id, product_id,
               CASE event_type
                   WHEN 'cart' THEN CAST(current_setting('persona.recs.cart_weight') AS DOUBLE)
                   ELSE CAST(current_setting('persona.recs.view_weight') AS DOUBLE)
               END
        FROM stg_events
        WHERE product_id IS NOT NULL AND event_type IN ('view', 'cart')
    ) signals
    WHERE w > 0
    GROUP BY basket, product_id
),
norms AS (
    SELECT product_id, sum(w * w) AS norm FROM basket_items GROUP BY product_id
),
pairs AS (
    SELECT a.product_id AS p, b.product_id AS q, sum(a.w * b.w) AS together
    FROM basket_items a
    JOIN basket_items b ON a.basket = b.basket AND a.product_id <> b.product_id
    GROUP BY 1, 2
),
similar AS (
    SELECT p, q, sim
    FROM (
        SELECT p, q, sim, row_number() OVER (PARTITION BY p ORDER BY round(sim, 9) DESC, q) AS k
        FROM (
            SELECT pairs.p, pairs.q, pairs.together / sqrt(np.norm * nq.norm) AS sim
            FROM pairs
            JOIN norms np ON np.product_id = pairs.p
            JOIN norms nq ON nq.product_id = pairs.q
        ) s
    ) ranked
    WHERE k <= 10
),
interest AS (
    -- Each customer's 5 strongest interests.
    SELECT customer_id, product_id, w
    FROM (
        SELECT customer_id, product_id, w,
               row_number() OVER (PARTITION BY customer_id ORDER BY w DESC, last_ts DESC, product_id) AS k
        FROM (
            SELECT customer_id, product_id, max(w) AS w, max(ts) AS last_ts
            FROM (
                SELECT o.customer_id, i.product_id, o.order_ts AS ts,
                       CAST(current_setting('persona.recs.purchase_weight') AS DOUBLE) AS w
                FROM stg_sales o
                JOIN order_items i ON i.order_id = o.order_id
                UNION ALL
                SELECT customer_id, product_id, event_ts,
                       CASE event_type
                           WHEN 'cart' THEN CAST(current_setting('persona.recs.cart_weight') AS DOUBLE)
                           ELSE CAST(current_setting('persona.recs.view_weight') AS DOUBLE)
                       END
                FROM stg_events
                WHERE customer_id IS NOT NULL
                  AND product_id IS NOT NULL
                  AND event_type IN ('view', 'cart')
            ) signals
            WHERE w > 0
            GROUP BY customer_id, product_id
        ) per_product
    ) ranked
    WHERE k <= 5
),
scored AS (
    SELECT i.customer_id, s.q AS product_id, sum(i.w * s.sim) AS score
    FROM interest i
    JOIN similar s ON s.p = i.product_id
    GROUP BY 1, 2
),
customers AS (
    SELECT c.customer_id, coalesce(s.tier, 'all') AS segment
    FROM stg_customers c
    LEFT JOIN customer_segments s ON s.customer_id = c.customer_id
),
bought AS (
    SELECT DISTINCT o.customer_id, i.product_id
    FROM stg_sales o
    JOIN order_items i ON i.order_id = o.order_id
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
    WHERE k <= 20
),
candidates AS (
    SELECT customer_id, product_id, 1 AS source, score
    FROM scored
    UNION ALL
    SELECT c.customer_id, p.product_id, 2, CAST(p.buyers AS DOUBLE)
    FROM customers c
    JOIN segment_popularity p ON p.segment = c.segment
),
unbought AS (
    -- A product found both ways counts as co-occurrence. (An aggregate, not a row_number()
    -- window: millions of two-row partitions are slow to window.)
    SELECT c.customer_id, c.product_id, min(c.source) AS source,
           coalesce(max(CASE WHEN c.source = 1 THEN c.score END), max(c.score)) AS score
    FROM candidates c
    WHERE NOT EXISTS (
        SELECT 1 FROM bought b
        WHERE b.customer_id = c.customer_id AND b.product_id = c.product_id
    )
    GROUP BY 1, 2
),
ranked AS (
    SELECT customer_id, product_id, score,
           CASE source WHEN 1 THEN 'co-occurrence' ELSE 'popular in segment' END AS reason,
           row_number() OVER (
               PARTITION BY customer_id ORDER BY source, round(score, 9) DESC, product_id
           ) AS rank
    FROM unbought
)
SELECT r.customer_id, r.rank, r.product_id, p.name AS product, p.category, round(r.score, 4) AS score, r.reason
FROM ranked r
JOIN products p ON p.product_id = r.product_id
WHERE r.rank <= 10;
