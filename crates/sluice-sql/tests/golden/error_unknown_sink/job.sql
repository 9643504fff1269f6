-- error: unknown 11:13
-- message: table 'counts' not found
-- hint: CREATE TABLE
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO counts
SELECT window_start, url, COUNT(*)
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, url;
