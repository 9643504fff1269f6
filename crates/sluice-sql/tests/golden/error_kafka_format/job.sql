-- error: option 7:3
-- message: unsupported format 'avro' for a kafka table
-- hint: use 'json'
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '127.0.0.1:1',
  'value.format' = 'avro');
INSERT INTO out SELECT url FROM views;
