-- error: option 7:9
-- message: unknown connector 'jdbc'
-- hint: filesystem
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');
CREATE TABLE out (url STRING)
  WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://db/x');

INSERT INTO out SELECT url FROM views;
