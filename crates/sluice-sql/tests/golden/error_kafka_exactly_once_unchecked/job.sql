-- error: option 7:3
-- message: exactly-once, which needs checkpoints
-- hint: execution.checkpointing.interval
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '127.0.0.1:1',
  'sink.delivery-guarantee' = 'exactly-once');
INSERT INTO out SELECT url FROM views;
