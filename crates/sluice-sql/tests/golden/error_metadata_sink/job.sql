-- error: unsupported 12:3
-- message: table `events_copy` is written by an INSERT, but its metadata column `log_ts` is not VIRTUAL
-- hint: VIRTUAL
CREATE TABLE views (user_id BIGINT, url STRING)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

-- Flink's Kafka connector writes 'timestamp' into the record; Sluice does not write metadata
-- yet, so a written table must declare its metadata columns VIRTUAL.
CREATE TABLE events_copy (
  user_id BIGINT,
  url STRING,
  log_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'
) WITH ('connector' = 'sluice', 'topic' = 'events_copy', 'format' = 'json');

INSERT INTO events_copy SELECT user_id, url FROM views;
