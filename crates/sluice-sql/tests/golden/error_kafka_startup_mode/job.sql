-- error: option 6:9
-- message: unsupported startup mode 'from-the-top'
-- hint: 'earliest-offset', 'latest-offset', 'group-offsets' or 'timestamp'
CREATE TABLE views (ts TIMESTAMP(3), url STRING, WATERMARK FOR ts AS ts)
  WITH ('connector' = 'kafka', 'topic' = 'views', 'properties.bootstrap.servers' = '127.0.0.1:1',
        'scan.startup.mode' = 'from-the-top');
CREATE TABLE out (url STRING) WITH ('connector' = 'print');
INSERT INTO out SELECT url FROM views;
