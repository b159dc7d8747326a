-- The voice of the customer: every social comment and feedback text up to the as-of date
-- scored once, per-customer sentiment with its 90-day trend, the pain points of negative
-- feedback, and CSAT and NPS by tier and segment.

-- A project without social or feedback sources gets these empty ones, so the views are
-- empty and customer_360 still loads.
CREATE TABLE IF NOT EXISTS social (
    comment_id BIGINT,
    customer_id BIGINT,
    platform VARCHAR,
    created_at TIMESTAMP,
    lang VARCHAR,
    text VARCHAR,
    likes INT,
    shares INT
);

CREATE TABLE IF NOT EXISTS feedback (
    feedback_id BIGINT,
    customer_id BIGINT,
    order_id BIGINT,
    created_at TIMESTAMP,
    rating INT,
    nps INT,
    comment VARCHAR
);

-- One row per non-empty text (social comments and feedback comments) up to the as-of date:
-- its source, sentiment score, label and the language it was read as.
CREATE OR REPLACE VIEW text_sentiment AS
WITH texts AS (
    SELECT 'social' AS source, comment_id AS source_id, customer_id, created_at, platform AS channel, text
    FROM social
    WHERE created_at < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP)
    UNION ALL
    SELECT 'feedback', feedback_id, customer_id, created_at, 'order ' || CAST(order_id AS VARCHAR), comment
    FROM feedback
    WHERE created_at < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP)
),
scored AS (
    SELECT *, sentiment(text) AS sentiment
    FROM texts
    WHERE text IS NOT NULL AND trim(text) <> ''
)
SELECT
    source,
    source_id,
    customer_id,
    created_at,
    CAST(created_at AS DATE) AS created_date,
    channel,
    text,
    text_language(text) AS language,
    sentiment,
    CASE
        WHEN sentiment >= 0.05 THEN 'positive'
        WHEN sentiment <= -0.05 THEN 'negative'
        ELSE 'neutral'
    END AS sentiment_label
FROM scored;

-- Per customer with texts: how many, the average sentiment, the share negative, and the trend:
-- the average of the last 90 days (the as-of date and the 89 before) minus that of the 90
-- before, labelled improving / worsening (a change of 0.1 or more) or stable; NULL when
-- either period has no text.
CREATE OR REPLACE VIEW customer_sentiment AS
WITH periods AS (
    SELECT
        customer_id,
        sentiment,
        sentiment_label,
        created_at,
        CASE
            WHEN created_date > as_of() - INTERVAL '90 days' THEN 'last'
            WHEN created_date > as_of() - INTERVAL '180 days' THEN 'previous'
        END AS period
    FROM text_sentiment
),
per_customer AS (
    SELECT
        customer_id,
        count(*) AS texts,
        avg(sentiment) AS avg_sentiment,
        avg(CASE WHEN sentiment_label = 'negative' THEN 1.0 ELSE 0.0 END) AS negative_share,
        avg(sentiment) FILTER (WHERE period = 'last') AS sentiment_last_90d,
        avg(sentiment) FILTER (WHERE period = 'previous') AS sentiment_previous_90d,
        max(created_at) AS last_text_at
    FROM periods
    GROUP BY customer_id
)
SELECT
    customer_id,
    texts,
    avg_sentiment,
    CASE
        WHEN avg_sentiment >= 0.05 THEN 'positive'
        WHEN avg_sentiment <= -0.05 THEN 'negative'
        ELSE 'neutral'
    END AS sentiment_label,
    negative_share,
    sentiment_last_90d,
    sentiment_previous_90d,
    sentiment_last_90d - sentiment_previous_90d AS sentiment_trend,
    CASE
        WHEN sentiment_last_90d - sentiment_previous_90d >= 0.1 THEN 'improving'
        WHEN sentiment_last_90d - sentiment_previous_90d <= -0.1 THEN 'worsening'
        WHEN sentiment_last_90d IS NOT NULL AND sentiment_previous_90d IS NOT NULL THEN 'stable'
    END AS trend,
    last_text_at
FROM per_customer;

-- The pain points: the keywords of negative texts (the top 5 of each text), the 10 most
-- mentioned overall (segment all / 全部) and in each RFM segment (customers who never bought
-- under none / 无), with the share of the segment's negative texts that mention each.
CREATE OR REPLACE VIEW feedback_topics AS
WITH negative AS (
    SELECT
        t.source,
        t.source_id,
        coalesce(s.segment, label('none', '无')) AS segment,
        t.text
    FROM text_sentiment t
    LEFT JOIN customer_segments s ON s.customer_id = t.customer_id
    WHERE t.sentiment_label = 'negative'
),
mentions AS (
    SELECT source, source_id, segment, unnest(keywords(text, 5)) AS keyword
    FROM negative
),
scoped AS (
    SELECT label('all', '全部') AS segment, keyword FROM mentions
    UNION ALL
    SELECT segment, keyword FROM mentions
),
texts AS (
    SELECT label('all', '全部') AS segment, count(*) AS negative_texts FROM negative
    UNION ALL
    SELECT segment, count(*) FROM negative GROUP BY segment
),
counted AS (
    SELECT segment, keyword, count(*) AS mentions
    FROM scoped
    GROUP BY segment, keyword
),
ranked AS (
    SELECT
        c.segment,
        row_number() OVER (PARTITION BY c.segment ORDER BY c.mentions DESC, c.keyword) AS rank,
        c.keyword,
        c.mentions,
        t.negative_texts,
        CAST(c.mentions AS DOUBLE) / t.negative_texts AS share
    FROM counted c
    JOIN texts t ON t.segment = c.segment
)
SELECT segment, rank, keyword, mentions, negative_texts, share
FROM ranked
WHERE rank <= 10;

-- Satisfaction from feedback up to the as-of date, by value tier and RFM segment, with a
-- row per tier (segment all / 全部) and one for everyone (tier and segment all / 全部):
-- CSAT = share of ratings 4 or 5; NPS = % promoters (9-10) - % detractors (0-6) over the
-- answers that have an NPS score; the average sentiment of the feedback comments.
CREATE OR REPLACE VIEW satisfaction_by_segment AS
WITH f AS (
    SELECT
        coalesce(s.tier, label('none', '无')) AS tier,
        coalesce(s.segment, label('none', '无')) AS segment,
        f.rating,
        f.nps,
        CASE WHEN f.comment IS NOT NULL AND trim(f.comment) <> '' THEN sentiment(f.comment) END AS sentiment
    FROM feedback f
    LEFT JOIN customer_segments s ON s.customer_id = f.customer_id
    WHERE f.created_at < CAST(as_of() + INTERVAL '1 day' AS TIMESTAMP)
)
SELECT
    CASE WHEN grouping(tier) = 1 THEN label('all', '全部') ELSE tier END AS tier,
    CASE WHEN grouping(segment) = 1 THEN label('all', '全部') ELSE segment END AS segment,
    count(*) AS responses,
    avg(CAST(rating AS DOUBLE)) AS avg_rating,
    avg(CASE WHEN rating >= 4 THEN 1.0 ELSE 0.0 END) AS csat,
    count(nps) AS nps_responses,
    count(*) FILTER (WHERE nps >= 9) AS promoters,
    count(*) FILTER (WHERE nps BETWEEN 7 AND 8) AS passives,
    count(*) FILTER (WHERE nps <= 6) AS detractors,
    100.0 * (count(*) FILTER (WHERE nps >= 9) - count(*) FILTER (WHERE nps <= 6)) / nullif(count(nps), 0) AS nps,
    avg(sentiment) AS avg_sentiment
FROM f
GROUP BY GROUPING SETS ((tier, segment), (tier), ())
