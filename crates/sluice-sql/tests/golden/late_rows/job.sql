-- Late rows routed to a table: SET 'sluice.late-rows.<results table>' = '<table>'. The late
-- table's columns are matched by name to the source row's columns and `late_reason`. (Flink
-- accepts and ignores the unknown SET key, so the file still runs there, minus the routing.)
SET 'sluice.batch-size' = '1';
SET 'sluice.late-rows.counts' = 'late_views';

CREATE TABLE page_views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');

CREATE TABLE counts (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'counts.json', 'format' = 'json');

CREATE TABLE late_views (ts TIMESTAMP(3), url STRING, user_id BIGINT, late_reason STRING)
  WITH ('connector' = 'filesystem', 'path' = 'late.json', 'format' = 'json');

INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
