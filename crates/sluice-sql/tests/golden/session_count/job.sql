-- SESSION windows per user (a 2-minute gap closes a session), with the session's first and
-- last page view time.
CREATE TABLE views (
  ts TIMESTAMP(3), user_id BIGINT, url STRING, referrer STRING, bytes INT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.jsonl', 'format' = 'json');

CREATE TABLE sessions (
  user_id BIGINT, session_start TIMESTAMP(3), session_end TIMESTAMP(3), pages BIGINT, first_view TIMESTAMP(3)
) WITH ('connector' = 'filesystem', 'path' = 'sessions.json', 'format' = 'json');

INSERT INTO sessions
SELECT user_id, window_start, window_end, COUNT(*), MIN(ts)
FROM TABLE(SESSION(TABLE views PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
GROUP BY window_start, window_end, user_id;
