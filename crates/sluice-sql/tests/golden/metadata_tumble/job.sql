-- A tumbling window on the records' log timestamp (metadata 'timestamp'): the values carry no
-- time of their own. A malformed record in partition 1 is skipped.
CREATE TABLE events (
  user_id BIGINT,
  url STRING,
  `offset` BIGINT METADATA VIRTUAL,
  log_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  WATERMARK FOR log_ts AS log_ts - INTERVAL '5' SECOND
) WITH ('connector' = 'sluice', 'topic' = 'events', 'format' = 'json',
        'scan.bounded.mode' = 'latest-offset', 'json.ignore-parse-errors' = 'true');

CREATE TABLE counts (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT, max_offset BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'counts.json', 'format' = 'json');

INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views, MAX(`offset`) AS max_offset
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(log_ts), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
