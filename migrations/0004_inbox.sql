-- The inbox (docs/DESIGN.md, The inbox): per-user state, expiry, collapse
-- keys, records of changes, and counts kept as they change.
--  - box: the index range a row lies in, so that every listing is an index
--    seek: 0 unread, 1 read, 2 archived (each a notification), 3 a record
--    (a state change or a deletion, in the channel's stream for replay but
--    never listed or counted). It replaces `read`.
--  - seen_at_ms, read_at_ms, archived_at_ms: when each flag was set, 0 =
--    not set. Rows read before this migration count as seen and read at
--    their creation.
--  - expires_at_ms (0 = never) and collapse_key (NULL = none).
-- `data` stays the last column (see 0003), hence the copy.
CREATE TABLE notifications_v4 (
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  box INTEGER NOT NULL DEFAULT 0,
  seen_at_ms INTEGER NOT NULL DEFAULT 0,
  read_at_ms INTEGER NOT NULL DEFAULT 0,
  archived_at_ms INTEGER NOT NULL DEFAULT 0,
  expires_at_ms INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  collapse_key TEXT,
  data TEXT NOT NULL
);
INSERT INTO notifications_v4
  (id, channel, event, created_at_ms, box, seen_at_ms, read_at_ms,
   idempotency_key, data)
  SELECT id, channel, event, created_at_ms, read,
    CASE WHEN read = 1 THEN max(created_at_ms, 1) ELSE 0 END,
    CASE WHEN read = 1 THEN max(created_at_ms, 1) ELSE 0 END,
    idempotency_key, data
  FROM notifications ORDER BY id;
DROP TABLE notifications;
ALTER TABLE notifications_v4 RENAME TO notifications;

-- Listings, replay and retention by channel: one index range per box.
CREATE INDEX notifications_by_channel_box
  ON notifications (channel, box, id);
CREATE UNIQUE INDEX notifications_idempotency
  ON notifications (channel, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- Only rows that have one are in these two, so others cost nothing.
CREATE INDEX notifications_collapse
  ON notifications (channel, collapse_key)
  WHERE collapse_key IS NOT NULL;
CREATE INDEX notifications_expiry
  ON notifications (expires_at_ms)
  WHERE expires_at_ms > 0;

-- The counts of each inbox (a `user:` channel), changed in the same
-- transaction as the rows they count: unread = neither read nor archived,
-- unseen = not seen. Records do not count.
CREATE TABLE inbox_counts (
  channel TEXT PRIMARY KEY,
  unread INTEGER NOT NULL CHECK (unread >= 0),
  unseen INTEGER NOT NULL CHECK (unseen >= 0)
) WITHOUT ROWID;
INSERT INTO inbox_counts (channel, unread, unseen)
  SELECT channel, sum(box = 0), sum(seen_at_ms = 0) FROM notifications
  WHERE substr(channel, 1, 5) = 'user:' GROUP BY channel;
