-- error: unsupported 6:3
-- message: connector 'filesystem' has no metadata
-- hint: exist only for 'connector' = 'sluice'
CREATE TABLE views (
  user_id BIGINT,
  ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (user_id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT user_id FROM views;
