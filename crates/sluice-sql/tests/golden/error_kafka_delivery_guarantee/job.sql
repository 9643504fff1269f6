-- error: option 8:3
-- message: unknown delivery guarantee 'exactly-twice'
-- hint: 'exactly-once', 'at-least-once' or 'none'
SET 'execution.checkpointing.interval' = '10s';
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '127.0.0.1:1',
  'sink.delivery-guarantee' = 'exactly-twice');
INSERT INTO out SELECT url FROM views;
