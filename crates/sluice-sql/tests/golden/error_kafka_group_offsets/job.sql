-- error: option 3:1
-- message: needs the option 'properties.group.id'
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kafka', 'topic' = 'views', 'properties.bootstrap.servers' = '127.0.0.1:1',
        'scan.startup.mode' = 'group-offsets');
CREATE TABLE out (url STRING) WITH ('connector' = 'print');
INSERT INTO out SELECT url FROM views;
