-- error: unknown 12:1
-- message: has column `referrer_host`
-- hint: late rows have the columns
SET 'sluice.late-rows.counts' = 'late_views';
CREATE TABLE page_views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');

CREATE TABLE counts (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'counts.json', 'format' = 'json');

-- The late rows of page_views have ts, url and late_reason: no referrer_host.
CREATE TABLE late_views (ts TIMESTAMP(3), referrer_host STRING)
  WITH ('connector' = 'blackhole');

INSERT INTO counts
SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, url;
