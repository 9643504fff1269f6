-- error: option 6:60
-- message: a 'print' table cannot be exactly-once
SET 'execution.checkpointing.interval' = '10s';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'print', 'sink.delivery-guarantee' = 'exactly-once');
INSERT INTO out SELECT url FROM views;
