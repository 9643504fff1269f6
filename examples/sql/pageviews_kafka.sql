-- The page-view count between two Kafka topics, exactly-once, spread over as many instances
-- as you start: each runs `sluice run --scale-out examples/sql/pageviews_kafka.sql`, and the
-- consumer group `pageviews-kafka` shares the input's partitions among them. Kill one
-- (`kill -9`): the others take its partitions over from the checkpoints they share, and the
-- output topic still holds every window's count exactly once. See "Scale out on Kafka" in
-- the README. The broker's address comes from the environment:
--
--   eval "$(scripts/kafka-broker.sh env)"     # after scripts/kafka-broker.sh start
--   sluice run --scale-out examples/sql/pageviews_kafka.sql
--
-- Input: JSON page views keyed by url (all of a url's views in one partition: there is no
-- exchange between instances, so a window's count per url must come from one partition).

SET 'pipeline.name' = 'pageviews-kafka';
SET 'execution.checkpointing.interval' = '1s';
-- Shared by every instance: each partition's state moves through it.
SET 'state.checkpoints.dir' = '${SLUICE_CHECKPOINTS:-/tmp/sluice-checkpoints}';
SET 'sluice.source.rows-per-second' = '5000';

CREATE TABLE page_views (
  ts BIGINT,
  url STRING,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'page_views',
  'properties.bootstrap.servers' = '${SLUICE_KAFKA_BOOTSTRAP}',
  'properties.group.id' = 'pageviews-kafka',
  'format' = 'json',
  'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset'
);

CREATE TABLE page_view_counts (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  url STRING,
  `views` BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = 'page_view_counts',
  'properties.bootstrap.servers' = '${SLUICE_KAFKA_BOOTSTRAP}',
  'format' = 'json',
  'key.fields' = 'url',
  'sink.delivery-guarantee' = 'exactly-once',
  -- Partition N's task writes to output partition N (create the output topic with as many
  -- partitions as the input). Needed on the tansu test broker, which holds back a
  -- transaction's offset commits while another open transaction wrote to the same partition;
  -- on Apache Kafka, leave it out to place results by key.
  'sink.partitioner' = 'fixed'
);

INSERT INTO page_view_counts
SELECT window_start, window_end, url, COUNT(*) AS `views`
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(rt), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
