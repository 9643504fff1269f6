-- No window: a filter and scalar functions (string, CASE, CAST, COALESCE, regexp, date/time,
-- arithmetic) from CSV to JSON lines.
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING, bytes INT
) WITH ('connector' = 'filesystem', 'path' = 'views.csv', 'format' = 'csv');

CREATE TABLE out (
  ts TIMESTAMP(3), page STRING, who STRING, source STRING, size STRING, kb DOUBLE, minute BIGINT, docs BOOLEAN
) WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO out
SELECT ts,
       UPPER(SUBSTRING(url FROM 2)) || '!',
       'user-' || CAST(user_id AS STRING),
       COALESCE(NULLIF(referrer, ''), 'direct'),
       CASE WHEN bytes >= 3000 THEN 'large' WHEN bytes >= 1000 THEN 'medium' ELSE 'small' END,
       bytes / 1000.0,
       EXTRACT(MINUTE FROM ts),
       REGEXP_LIKE(url, '^/d')
FROM views
WHERE url <> '/health' AND user_id % 2 = 1;
