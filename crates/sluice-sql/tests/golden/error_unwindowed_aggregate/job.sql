-- error: unsupported 14:1
-- message: non-windowed aggregation
-- hint: TUMBLE
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

CREATE TABLE totals (url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'totals.json', 'format' = 'json');

INSERT INTO totals
SELECT url, COUNT(*) FROM views GROUP BY url;
