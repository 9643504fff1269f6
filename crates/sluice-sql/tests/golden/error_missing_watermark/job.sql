-- error: missing-watermark 11:32
-- message: has no WATERMARK
-- hint: WATERMARK FOR ts AS ts
CREATE TABLE views (ts TIMESTAMP(3), url STRING)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO out
SELECT window_start, url, COUNT(*)
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, url;
