-- error: option 7:25
-- message: unsupported key format 'avro'
-- hint: use 'json' or 'raw'
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '127.0.0.1:1',
  'key.fields' = 'url', 'key.format' = 'avro');
INSERT INTO out SELECT url FROM views;
