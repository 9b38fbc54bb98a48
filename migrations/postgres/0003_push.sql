-- Web Push (docs/DESIGN.md, Web Push), as migrations/0005_push.sql gives it
-- to SQLite: the push subscriptions of each user and what was already
-- pushed.
--  - push_subscriptions: one row per browser subscription, unique by its
--    endpoint (the push service's URL for it). `channel` is the user's
--    inbox (user:<id>); p256dh (65 bytes) and auth (16 bytes) are the
--    browser's keys the payload is encrypted to; secret_sha256 is the hash
--    of the credential the service worker shows to mark a notification
--    seen (never the credential itself).
--  - push_sent: the notifications already pushed, so that none is pushed
--    twice, after a restart either. A row goes with its notification
--    (deleted, expired, replaced or pruned): the foreign key cascades.
CREATE TABLE push_subscriptions (
  endpoint TEXT COLLATE "C" PRIMARY KEY,
  channel TEXT COLLATE "C" NOT NULL,
  p256dh BYTEA NOT NULL,
  auth BYTEA NOT NULL,
  secret_sha256 BYTEA NOT NULL UNIQUE,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_by_channel
  ON push_subscriptions (channel, created_at_ms);

CREATE TABLE push_sent (
  id BIGINT PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
  pushed_at_ms BIGINT NOT NULL
);
