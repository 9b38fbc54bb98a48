-- One index for history, replay and unread queries instead of two. Every
-- append wrote one leaf page of notifications_by_channel and one of
-- notifications_unread, pages that lie far apart once many channels are in
-- use; now it writes one. Unread rows of a channel come first in id order,
-- then read ones, so a query over the whole channel reads both ranges and
-- merges them (storage/sqlite_queries.cc).
DROP INDEX notifications_by_channel;
DROP INDEX notifications_unread;
CREATE INDEX notifications_by_channel_read
  ON notifications (channel, read, id);
