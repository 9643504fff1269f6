-- The Flink idiom for epoch-millisecond fields: a computed column carries the watermark. One
-- global 5-minute window (no key besides the window).
CREATE TABLE views (
  ts BIGINT, user_id BIGINT, url STRING, referrer STRING, bytes BIGINT,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE TABLE totals (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), window_time TIMESTAMP(3), views BIGINT, max_ts BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'totals.json', 'format' = 'json');

INSERT INTO totals
SELECT window_start, window_end, window_time, COUNT(*), MAX(ts)
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(rt), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, window_time;
