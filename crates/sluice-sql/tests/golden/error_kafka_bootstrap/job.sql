-- error: option 4:1
-- message: needs the option 'properties.bootstrap.servers'
-- hint: add 'properties.bootstrap.servers'
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kafka', 'topic' = 'views', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'print');
INSERT INTO out SELECT url FROM views;
