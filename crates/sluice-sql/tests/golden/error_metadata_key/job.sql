-- error: unknown 5:45
-- message: unknown metadata key 'headers'
-- hint: 'offset' (BIGINT), 'partition' (INT), 'timestamp' (TIMESTAMP_LTZ(3))
CREATE TABLE events (
  user_id BIGINT, hdrs STRING METADATA FROM 'headers'
) WITH ('connector' = 'sluice', 'topic' = 'events', 'format' = 'json');
CREATE TABLE out (user_id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT user_id FROM events;
