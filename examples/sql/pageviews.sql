-- Page views per URL in 5-minute tumbling event-time windows: the SQL version of the Rust
-- API's page-view count (crates/sluice-dataflow/examples/pageviews.rs). The same file runs on
-- Apache Flink (Flink SQL / PyFlink) unchanged. Paths are relative to the directory the job
-- runs in: data/page_views.jsonl is `sluice gen page-views` output (ts = epoch milliseconds).
-- `views` is quoted with backticks because VIEWS is a reserved word in Flink SQL.
--
--   sluice gen page-views --count 1000000 > data/page_views.jsonl
--   sluice run examples/sql/pageviews.sql      # writes out/page_view_counts/part-0.json

CREATE TABLE page_views (
  ts BIGINT,
  url STRING,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'data/page_views.jsonl',
  'format' = 'json'
);

CREATE TABLE page_view_counts (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  url STRING,
  `views` BIGINT
) WITH (
  'connector' = 'filesystem',
  'path' = 'out/page_view_counts/',
  'format' = 'json'
);

INSERT INTO page_view_counts
SELECT window_start, window_end, url, COUNT(*) AS `views`
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(rt), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
