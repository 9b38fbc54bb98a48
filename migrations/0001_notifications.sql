-- Notifications, one row per stored event. AUTOINCREMENT keeps ids strictly
-- increasing and never reused, even after retention deletes the newest rows.
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  idempotency_key TEXT,
  read INTEGER NOT NULL DEFAULT 0
);

-- History and replay by channel, in id order.
CREATE INDEX notifications_by_channel ON notifications (channel, id);

-- Idempotency keys are unique per channel.
CREATE UNIQUE INDEX notifications_idempotency
  ON notifications (channel, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Unread counts and unread-only listings.
CREATE INDEX notifications_unread ON notifications (channel, id)
  WHERE read = 0;

-- Age-based retention.
CREATE INDEX notifications_by_time ON notifications (created_at_ms);
