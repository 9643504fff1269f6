-- error: type 6:3
-- message: must be a TIMESTAMP(3)
-- hint: TO_TIMESTAMP_LTZ
CREATE TABLE views (
  ts BIGINT, url STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
