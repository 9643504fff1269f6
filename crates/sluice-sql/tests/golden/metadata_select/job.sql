-- Metadata columns of the `sluice` connector, spelled as in Flink's Kafka connector: each row's
-- offset, partition and log timestamp. Partition 1 holds a malformed record (dead-lettered):
-- the next row keeps its own offset, 2.
CREATE TABLE events (
  user_id BIGINT,
  url STRING,
  `offset` BIGINT METADATA VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  log_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR log_ts AS log_ts - INTERVAL '5' SECOND
) WITH ('connector' = 'sluice', 'topic' = 'events', 'format' = 'json',
        'scan.bounded.mode' = 'latest-offset', 'json.ignore-parse-errors' = 'true');

CREATE TABLE out (user_id BIGINT, url STRING, off BIGINT, part INT, log_ts TIMESTAMP(3), next_off BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out.json', 'format' = 'json');

INSERT INTO out
SELECT user_id, url, `offset`, `partition`, log_ts, `offset` + 1 FROM events;
