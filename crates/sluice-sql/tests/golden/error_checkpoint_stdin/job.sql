-- error: option 6:37
-- message: cannot be read again after a failure
-- hint: sluice produce
SET 'execution.checkpointing.interval' = '10s';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = '/dev/stdin', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT url FROM views;
