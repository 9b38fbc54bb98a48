-- The inbox (docs/DESIGN.md, The inbox), as migrations/0004_inbox.sql gives
-- it to SQLite: per-user state, expiry, collapse keys, records of changes,
-- and counts kept as they change.
--  - box: the index range a row lies in, so that every listing is an index
--    seek: 0 unread, 1 read, 2 archived (each a notification), 3 a record
--    (a state change or a deletion, in the channel's stream for replay but
--    never listed or counted). It replaces `read`.
--  - seen_at_ms, read_at_ms, archived_at_ms: when each flag was set, 0 =
--    not set. Rows read before this migration count as seen and read at
--    their creation.
--  - expires_at_ms (0 = never) and collapse_key (NULL = none).
-- Unlike SQLite's, the table is altered in place, not copied: the new
-- columns with constant defaults cost no rewrite, and only read rows are
-- updated. Like every migration, this one runs in a single transaction
-- (storage/postgres_migrations.cc): an instance sees the old schema or the
-- new one, never half of it.
ALTER TABLE notifications
  ADD COLUMN box SMALLINT NOT NULL DEFAULT 0,
  ADD COLUMN seen_at_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN read_at_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN archived_at_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN expires_at_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN collapse_key TEXT COLLATE "C" NULL;

-- Dropped before the update, so that it does not maintain an index about
-- to go; the new one is built once the rows are final.
DROP INDEX notifications_by_channel_read;
UPDATE notifications
  SET box = 1, seen_at_ms = created_at_ms, read_at_ms = created_at_ms
  WHERE read;
ALTER TABLE notifications DROP COLUMN read;

-- Listings, replay and retention by channel: one index range per box.
CREATE INDEX notifications_by_channel_box
  ON notifications (channel, box, id);
-- Only rows that have one are in these two, so others cost nothing.
CREATE INDEX notifications_collapse
  ON notifications (channel, collapse_key)
  WHERE collapse_key IS NOT NULL;
CREATE INDEX notifications_expiry
  ON notifications (expires_at_ms)
  WHERE expires_at_ms > 0;

-- The counts of each inbox (a `user:` channel), changed in the same
-- transaction as the rows they count: unread = neither read nor archived,
-- unseen = not seen. Records do not count (there are none yet).
CREATE TABLE inbox_counts (
  channel TEXT COLLATE "C" PRIMARY KEY,
  unread BIGINT NOT NULL CHECK (unread >= 0),
  unseen BIGINT NOT NULL CHECK (unseen >= 0)
);
-- left(), not LIKE: the prefix is compared as bytes, with no pattern
-- characters to think about.
INSERT INTO inbox_counts (channel, unread, unseen)
  SELECT channel, count(*) FILTER (WHERE box = 0),
    count(*) FILTER (WHERE seen_at_ms = 0)
  FROM notifications
  WHERE left(channel, 5) = 'user:'
  GROUP BY channel;
