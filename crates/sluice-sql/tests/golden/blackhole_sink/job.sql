-- A blackhole sink next to a file sink in one job: the blackhole discards its rows, the file
-- gets the filtered rows (and is the only output).
CREATE TABLE page_views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING
) WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');
CREATE TABLE nothing (url STRING) WITH ('connector' = 'blackhole');
CREATE TABLE docs (ts TIMESTAMP(3), user_id BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'docs.json', 'format' = 'json');

INSERT INTO nothing SELECT url FROM page_views;
INSERT INTO docs SELECT ts, user_id FROM page_views WHERE url = '/docs';
