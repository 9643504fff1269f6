-- error: option 3:23
-- message: cannot name the job
SET 'pipeline.name' = 'page views/v2';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT url FROM views;
