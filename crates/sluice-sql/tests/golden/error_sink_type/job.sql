-- error: type 11:1
-- message: column `window_start` of `out`
-- hint: CAST
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO out
SELECT url, window_start, COUNT(*)
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, url;
