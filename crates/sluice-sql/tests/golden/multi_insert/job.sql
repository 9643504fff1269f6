-- Two INSERTs in one job: a per-URL tumbling count and a per-user one, from the same table.
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING, bytes INT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE TABLE per_url (window_start TIMESTAMP(3), url STRING, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'per_url.json', 'format' = 'json');
CREATE TABLE per_user (window_end TIMESTAMP(3), user_id BIGINT, views BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'per_user.json', 'format' = 'json');

INSERT INTO per_url
SELECT window_start, url, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end, url;

INSERT INTO per_user
SELECT window_end, user_id, COUNT(*) FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(ts), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end, user_id;
