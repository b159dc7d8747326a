-- `persona ingest` on `persona gen --raw` against the recorded truth (tests/it/ingest.rs).
-- value recovery per field, primary CRM records that were kept
SELECT count(*) AS n,
  avg(CASE WHEN c.gender IS NOT DISTINCT FROM t.gender THEN 1.0 ELSE 0 END) AS gender,
  avg(CASE WHEN c.birth_date IS NOT DISTINCT FROM t.birth_date THEN 1.0 ELSE 0 END) AS birth,
  avg(CASE WHEN c.phone = t.phone THEN 1.0 ELSE 0 END) AS phone,
  avg(CASE WHEN c.email IS NOT DISTINCT FROM t.email THEN 1.0 ELSE 0 END) AS email,
  avg(CASE WHEN c.city = t.city THEN 1.0 ELSE 0 END) AS city,
  avg(CASE WHEN CAST(c.registered_at + INTERVAL '8 hours' AS DATE) = t.signup_date THEN 1.0 ELSE 0 END) AS signup,
  avg(CASE WHEN c.name = t.name THEN 1.0 ELSE 0 END) AS name
FROM truth_customers t JOIN stg_crm_customers c ON c.crm_id = t.crm_id;
-- injected bad rows: how many, and how many not rejected (with a reason)
SELECT count(*) AS bad_rows, count(*) FILTER (WHERE r.line IS NULL OR r.reason = '') AS missed
FROM truth_defects d LEFT JOIN rejects r ON r.file = d.file AND r.line = d.line
WHERE d.kind NOT IN ('duplicate_person', 'exact_duplicate');
-- rejects that are not injected defects
SELECT count(*) AS false_rejects FROM rejects r LEFT JOIN truth_defects d ON r.file = d.file AND r.line = d.line WHERE d.line IS NULL;
-- exact duplicates kept
SELECT count(*) AS dup_kept FROM truth_defects d JOIN stg_shop_orders o ON o._file = d.file AND o._line = d.line WHERE d.kind = 'exact_duplicate';
-- duplicated people merged
WITH m AS (SELECT lpad(CAST(crm_id AS VARCHAR), 10, '0') AS crm_id, customer_id AS person, is_duplicate FROM truth_crm_map),
 ids AS (SELECT source_id AS crm_id, customer_id FROM identity_map WHERE source = 'crm_customers'),
 dup AS (SELECT m.person, i.customer_id FROM m JOIN ids i USING (crm_id) WHERE m.is_duplicate),
 pri AS (SELECT m.person, i.customer_id FROM m JOIN ids i USING (crm_id) WHERE NOT m.is_duplicate)
SELECT count(*) AS duplicates, avg(CASE WHEN dup.customer_id = pri.customer_id THEN 1.0 ELSE 0 END) AS merged FROM dup JOIN pri USING (person);
-- distinct people merged together
WITH m AS (SELECT lpad(CAST(crm_id AS VARCHAR), 10, '0') AS crm_id, customer_id AS person FROM truth_crm_map)
SELECT count(*) AS false_merges FROM (SELECT i.customer_id FROM identity_map i JOIN m ON i.source = 'crm_customers' AND m.crm_id = i.source_id GROUP BY i.customer_id HAVING count(DISTINCT m.person) > 1);
-- the golden record's city (most frequent) and phone (latest) against the truth, per person
WITH m AS (SELECT lpad(CAST(crm_id AS VARCHAR), 10, '0') AS crm_id, customer_id AS person FROM truth_crm_map WHERE NOT is_duplicate)
SELECT count(*) AS people, avg(CASE WHEN u.city = t.city THEN 1.0 ELSE 0 END) AS city,
       avg(CASE WHEN u.phone = t.phone THEN 1.0 ELSE 0 END) AS phone
FROM m JOIN identity_map i ON i.source = 'crm_customers' AND i.source_id = m.crm_id
JOIN customers_unified u ON u.customer_id = i.customer_id
JOIN truth_customers t ON t.customer_id = m.person;
