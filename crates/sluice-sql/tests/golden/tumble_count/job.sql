-- The issue's page_views table and a tumbling count per URL, from JSON lines; timestamps as
-- strings and as epoch milliseconds, a little out of order, one row too late. Batches of one
-- row, so that the watermark advances after every row (it advances once per batch).
SET 'sluice.batch-size' = '1';

CREATE TABLE page_views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');

CREATE TABLE counts (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'counts.json', 'format' = 'json');

INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
