-- tumble_count with checkpoints on (Flink's keys, Flink's duration syntax) and an explicitly
-- at-least-once file sink: the same counts as without checkpoints.
SET 'sluice.batch-size' = '1';
SET 'pipeline.name' = 'golden-tumble';
SET 'execution.checkpointing.interval' = '500 ms';
SET 'state.checkpoints.num-retained' = '2';
SET 'execution.checkpointing.tolerable-failed-checkpoints' = '0';
SET 'sluice.source.rows-per-second' = '1000';

CREATE TABLE page_views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'page_views.jsonl', 'format' = 'json');

CREATE TABLE counts (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'counts.json', 'format' = 'json',
        'sink.delivery-guarantee' = 'at-least-once');

INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '5' MINUTES))
GROUP BY window_start, window_end, url;
