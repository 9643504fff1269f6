-- A view (filter and projection) windowed by TUMBLE, with HAVING.
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING, bytes INT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE VIEW referred AS
SELECT ts, url, LOWER(referrer) AS ref FROM views WHERE referrer IS NOT NULL;

CREATE TABLE out (window_start TIMESTAMP(3), ref STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO out
SELECT window_start, ref, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE referred, DESCRIPTOR(ts), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end, ref
HAVING COUNT(*) > 3;
