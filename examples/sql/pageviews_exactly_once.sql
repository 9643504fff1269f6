-- The page-view count from a topic of the embedded log to another, exactly-once: kill it at
-- any moment (`kill -9`), run it again, and the output topic ends up exactly as if it had
-- never stopped. See "Exactly-once: kill it and restart" in the README.
--
--   sluice topic create page_views --partitions 1
--   sluice topic create page_view_counts --partitions 2
--   sluice topic create late_page_views --partitions 1
--   sluice gen page-views --count 1000000 --seed 1 | sluice produce page_views --key url
--   sluice run examples/sql/pageviews_exactly_once.sql

-- The job's identity: a rerun with the same name (and data dir) resumes from its checkpoints.
SET 'pipeline.name' = 'pageviews-exactly-once';
SET 'execution.checkpointing.interval' = '1s';
-- Paced to 100,000 rows a second, so that the walkthrough has time to kill it.
SET 'sluice.source.rows-per-second' = '100000';
SET 'sluice.late-rows.page_view_counts' = 'late_page_views';

CREATE TABLE page_views (
  ts BIGINT,
  url STRING,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
) WITH (
  'connector' = 'sluice',
  'topic' = 'page_views',
  'format' = 'json',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset'
);

-- Exactly-once is the default with checkpoints on; spelled out here as in Flink.
CREATE TABLE page_view_counts (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  url STRING,
  `views` BIGINT
) WITH (
  'connector' = 'sluice',
  'topic' = 'page_view_counts',
  'format' = 'json',
  'key.fields' = 'url',
  'sink.delivery-guarantee' = 'exactly-once'
);

CREATE TABLE late_page_views (ts BIGINT, url STRING, late_reason STRING) WITH (
  'connector' = 'sluice',
  'topic' = 'late_page_views',
  'format' = 'json'
);

INSERT INTO page_view_counts
SELECT window_start, window_end, url, COUNT(*) AS `views`
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(rt), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
