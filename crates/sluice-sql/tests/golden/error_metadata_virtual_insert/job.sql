-- error: unsupported 14:40
-- message: column `offset` of `events_copy` is a VIRTUAL metadata column ('offset'): it is read, not written
-- hint: leave it out of the INSERT's column list
CREATE TABLE views (user_id BIGINT, url STRING)
  WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE TABLE events_copy (
  user_id BIGINT,
  url STRING,
  `offset` BIGINT METADATA VIRTUAL
) WITH ('connector' = 'sluice', 'topic' = 'events_copy', 'format' = 'json');

-- Virtual columns are not written: INSERT INTO events_copy SELECT user_id, url works.
INSERT INTO events_copy (user_id, url, `offset`) SELECT user_id, url, 7 FROM views;
