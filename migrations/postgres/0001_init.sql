-- The PostgreSQL store (storage/postgres_store.h), shared by every notifyd
-- instance that points --store at this database. The same rows as the
-- SQLite schema (migrations/0003_*.sql), with two differences:
--  - `data` is BYTEA: a payload is stored byte for byte, and TEXT cannot
--    hold a NUL byte.
--  - Ids come from notify_id_counter, not from max(id): each batch of
--    appends locks its row until COMMIT, so ids are dense and follow commit
--    order across instances, and deleting the newest rows never lets an id
--    be reused.
-- Channels and keys compare bytewise (COLLATE "C"): only equality and
-- grouping are asked of them, and a C collation cannot change under the
-- index when the operating system's locale data is upgraded.
CREATE TABLE notifications (
  id BIGINT PRIMARY KEY,
  channel TEXT COLLATE "C" NOT NULL,
  event TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL,
  read BOOLEAN NOT NULL DEFAULT false,
  idempotency_key TEXT COLLATE "C",
  data BYTEA NOT NULL
);

-- History, replay and unread counts: a channel's unread rows, then its read
-- ones, each range in id order (the queries read both and merge them). One
-- index instead of (channel, id) plus a partial unread one, so an append
-- writes the table and two indexes, not three.
CREATE INDEX notifications_by_channel_read
  ON notifications (channel, read, id);

-- Idempotency keys are unique per channel.
CREATE UNIQUE INDEX notifications_idempotency
  ON notifications (channel, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- The last id handed out. One row, always present.
CREATE TABLE notify_id_counter (
  only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
  last_id BIGINT NOT NULL CHECK (last_id >= 0)
);
INSERT INTO notify_id_counter (only_row, last_id) VALUES (true, 0);
