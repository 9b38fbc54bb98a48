-- Web Push (docs/DESIGN.md, Web Push): the push subscriptions of each user
-- and what was already pushed.
--  - push_subscriptions: one row per browser subscription, unique by its
--    endpoint (the push service's URL for it). `channel` is the user's
--    inbox (user:<id>); p256dh (65 bytes) and auth (16 bytes) are the
--    browser's keys the payload is encrypted to; secret_sha256 is the hash
--    of the credential the service worker shows to mark a notification
--    seen (never the credential itself).
--  - push_sent: the notifications already pushed, so that none is pushed
--    twice, after a restart either. A row goes with its notification
--    (deleted, expired, replaced or pruned): the trigger below.
CREATE TABLE push_subscriptions (
  endpoint TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  p256dh BLOB NOT NULL,
  auth BLOB NOT NULL,
  secret_sha256 BLOB NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX push_subscriptions_by_channel
  ON push_subscriptions (channel, created_at_ms);

CREATE TABLE push_sent (
  id INTEGER PRIMARY KEY,
  pushed_at_ms INTEGER NOT NULL
);
CREATE TRIGGER push_sent_goes_with_its_notification
  AFTER DELETE ON notifications
  BEGIN DELETE FROM push_sent WHERE id = old.id; END;
