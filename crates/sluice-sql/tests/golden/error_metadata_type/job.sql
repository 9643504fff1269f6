-- error: type 6:3
-- message: metadata 'offset' is BIGINT, column `offset` is declared STRING
-- hint: declare `offset BIGINT METADATA FROM 'offset'`
CREATE TABLE events (
  user_id BIGINT,
  `offset` STRING METADATA VIRTUAL
) WITH ('connector' = 'sluice', 'topic' = 'events', 'format' = 'json');
CREATE TABLE out (user_id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT user_id FROM events;
