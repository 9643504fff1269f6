-- error: option 3:42
-- message: unknown unit 'fortnights'
SET 'execution.checkpointing.interval' = '10 fortnights';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT url FROM views;
