-- Each append wrote four b-trees: the table, the (channel, read, id) index,
-- the created_at index and AUTOINCREMENT's row in sqlite_sequence (read and
-- rewritten by every INSERT). Now it writes two:
--  - The next id is one past the larger of the newest row and the high-water
--    mark below, which the store raises before it deletes rows, so an id is
--    still never reused after the newest rows are pruned.
--  - Retention deletes the oldest rows in id order while they are older than
--    the cut-off, so it needs no index on created_at_ms.
-- SQLite cannot drop AUTOINCREMENT from a table, hence the copy.
CREATE TABLE id_high_water (
  only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
  id INTEGER NOT NULL
);
INSERT INTO id_high_water (only_row, id)
  SELECT 1, coalesce(
    (SELECT seq FROM sqlite_sequence WHERE name = 'notifications'), 0);

-- `data`, up to 64 KiB and then spilling into overflow pages, is the last
-- column now, so reading the others (retention reads created_at_ms of the
-- oldest rows) never walks a payload.
CREATE TABLE notifications_v3 (
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  read INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  data TEXT NOT NULL
);
INSERT INTO notifications_v3
  (id, channel, event, created_at_ms, read, idempotency_key, data)
  SELECT id, channel, event, created_at_ms, read, idempotency_key, data
  FROM notifications ORDER BY id;
DROP TABLE notifications;
ALTER TABLE notifications_v3 RENAME TO notifications;

CREATE INDEX notifications_by_channel_read
  ON notifications (channel, read, id);
CREATE UNIQUE INDEX notifications_idempotency
  ON notifications (channel, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
