-- error: unsupported 6:23
-- message: unsupported watermark expression
-- hint: INTERVAL
CREATE TABLE views (
  ts TIMESTAMP(3), url STRING,
  WATERMARK FOR ts AS ts + INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
