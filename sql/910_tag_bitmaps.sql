-- One bitmap of customer ids per tag value: what audience() and intersect_count evaluate.
-- name is 'tag:value', the unambiguous way to write the value in a tag expression.
CREATE OR REPLACE VIEW tag_bitmaps AS
SELECT
    tag_group,
    tag,
    value,
    tag || ':' || coalesce(value, '') AS name,
    count(*) AS customers,
    bitmap_agg(customer_id) AS bitmap
FROM customer_tags
WHERE customer_id IS NOT NULL
GROUP BY tag_group, tag, value;
