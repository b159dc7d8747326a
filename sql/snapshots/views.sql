-- Views over the snapshots `persona refresh` writes (snapshot_customer_segments,
-- snapshot_customer_tags, …, each with its as_of date as a column). They compare every pair of
-- snapshot dates, earlier to later: filter on from_as_of and to_as_of to pick two.

-- Movement between segments: for each pair of dates and each scheme ('segment' — the RFM
-- segment, or the tier for customers who never bought —, 'cn8' and 'tier'), how many customers
-- went from one segment to another, and their share of the from-segment. Customers missing
-- from the earlier snapshot come from '(new)', those missing from the later one go to '(gone)'.
CREATE OR REPLACE VIEW segment_transitions AS
WITH dates AS (
    SELECT DISTINCT as_of FROM snapshot_customer_segments
),
pairs AS (
    SELECT a.as_of AS from_as_of, b.as_of AS to_as_of
    FROM dates a JOIN dates b ON a.as_of < b.as_of
),
sides AS (
    SELECT p.from_as_of, p.to_as_of, s.customer_id, 0 AS later,
           coalesce(s.segment, s.tier) AS segment, s.cn8_segment, s.tier
    FROM pairs p JOIN snapshot_customer_segments s ON s.as_of = p.from_as_of
    UNION ALL
    SELECT p.from_as_of, p.to_as_of, s.customer_id, 1,
           coalesce(s.segment, s.tier), s.cn8_segment, s.tier
    FROM pairs p JOIN snapshot_customer_segments s ON s.as_of = p.to_as_of
),
moves AS (
    SELECT
        from_as_of,
        to_as_of,
        customer_id,
        bool_or(later = 0) AS was,
        bool_or(later = 1) AS is_now,
        max(segment) FILTER (WHERE later = 0) AS segment_0,
        max(segment) FILTER (WHERE later = 1) AS segment_1,
        max(cn8_segment) FILTER (WHERE later = 0) AS cn8_0,
        max(cn8_segment) FILTER (WHERE later = 1) AS cn8_1,
        max(tier) FILTER (WHERE later = 0) AS tier_0,
        max(tier) FILTER (WHERE later = 1) AS tier_1
    FROM sides
    GROUP BY from_as_of, to_as_of, customer_id
),
labelled AS (
    SELECT from_as_of, to_as_of, 'segment' AS scheme,
           CASE WHEN was THEN coalesce(segment_0, '') ELSE '(new)' END AS from_segment,
           CASE WHEN is_now THEN coalesce(segment_1, '') ELSE '(gone)' END AS to_segment
    FROM moves
    UNION ALL
    SELECT from_as_of, to_as_of, 'cn8',
           CASE WHEN was THEN coalesce(cn8_0, '') ELSE '(new)' END,
           CASE WHEN is_now THEN coalesce(cn8_1, '') ELSE '(gone)' END
    FROM moves
    UNION ALL
    SELECT from_as_of, to_as_of, 'tier',
           CASE WHEN was THEN coalesce(tier_0, '') ELSE '(new)' END,
           CASE WHEN is_now THEN coalesce(tier_1, '') ELSE '(gone)' END
    FROM moves
),
counted AS (
    SELECT from_as_of, to_as_of, scheme, from_segment, to_segment, count(*) AS customers
    FROM labelled
    GROUP BY from_as_of, to_as_of, scheme, from_segment, to_segment
)
SELECT
    from_as_of,
    to_as_of,
    scheme,
    from_segment,
    to_segment,
    customers,
    round(customers / CAST(sum(customers) OVER (
        PARTITION BY from_as_of, to_as_of, scheme, from_segment
    ) AS DOUBLE), 4) AS share
FROM counted;

-- Tags gained and lost: for each pair of dates, each customer's tag values (tag_group, tag,
-- value as in customer_tags) present in only one of the two snapshots, with change 'gained'
-- (only in the later one) or 'lost' (only in the earlier one).
CREATE OR REPLACE VIEW tag_changes AS
WITH dates AS (
    SELECT DISTINCT as_of FROM snapshot_customer_tags
),
pairs AS (
    SELECT a.as_of AS from_as_of, b.as_of AS to_as_of
    FROM dates a JOIN dates b ON a.as_of < b.as_of
),
sides AS (
    SELECT p.from_as_of, p.to_as_of, t.customer_id, t.tag_group, t.tag, t.value, 0 AS later
    FROM pairs p JOIN snapshot_customer_tags t ON t.as_of = p.from_as_of
    UNION ALL
    SELECT p.from_as_of, p.to_as_of, t.customer_id, t.tag_group, t.tag, t.value, 1
    FROM pairs p JOIN snapshot_customer_tags t ON t.as_of = p.to_as_of
)
SELECT
    from_as_of,
    to_as_of,
    customer_id,
    tag_group,
    tag,
    value,
    CASE WHEN min(later) = 1 THEN 'gained' ELSE 'lost' END AS change
FROM sides
GROUP BY from_as_of, to_as_of, customer_id, tag_group, tag, value
HAVING min(later) = max(later);
