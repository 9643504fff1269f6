-- HOP windows (10 minutes every 5) with every aggregate the engine runs, a WHERE before the
-- window, FILTER clauses, and expressions over the aggregates after it.
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING, bytes INT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE TABLE stats (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING,
  hits BIGINT, total_bytes BIGINT, min_bytes INT, max_bytes INT, avg_bytes DOUBLE,
  users BIGINT, referred BIGINT, big_bytes BIGINT, kb DOUBLE
) WITH ('connector' = 'filesystem', 'path' = 'stats.json', 'format' = 'json');

INSERT INTO stats
SELECT window_start, window_end, url,
       COUNT(*), SUM(bytes), MIN(bytes), MAX(bytes), AVG(bytes),
       COUNT(DISTINCT user_id),
       COUNT(*) FILTER (WHERE referrer IS NOT NULL),
       SUM(bytes) FILTER (WHERE bytes > 2500),
       ROUND(SUM(bytes) / 1000.0, 1)
FROM TABLE(HOP(TABLE views, DESCRIPTOR(ts), INTERVAL '5' MINUTE, INTERVAL '10' MINUTE))
WHERE url <> '/health'
GROUP BY window_start, window_end, url;
