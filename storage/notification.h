// A stored entry of a channel's ordered stream: the unit that the store
// persists, the bus carries and the edge frames. Immutable once stored
// (shared as shared_ptr<const Notification>).
//
// Most entries are notifications. In an inbox (a `user:` channel, see
// storage/inbox.h) the store also writes records of what changed, so that
// every stream of the user, live or resuming, learns of it in id order
// (docs/DESIGN.md, The inbox):
//  - a state record (event "state", data {"ids":[…],"seen":true,…}),
//  - a deletion record (event "deleted", data {"ids":[…]}).
// Records take ids like notifications but are never listed or counted.
#ifndef NOTIFYD_STORAGE_NOTIFICATION_H_
#define NOTIFYD_STORAGE_NOTIFICATION_H_

#include <cstdint>
#include <string>

namespace notifyd::storage {

// An inbox's counts: unread = neither read nor archived; unseen = not seen.
struct Counts {
  uint64_t unread = 0;
  uint64_t unseen = 0;
  bool operator==(const Counts&) const = default;
};

struct Notification {
  enum class Kind : uint8_t {
    kNotification = 0,
    kStateRecord = 1,
    kDeletionRecord = 2,
  };

  uint64_t id = 0;
  std::string channel;
  std::string event;
  std::string data;
  int64_t created_at_ms = 0;  // Unix time, milliseconds
  Kind kind = Kind::kNotification;

  // Per-user state (inbox notifications only): when each flag was set, in
  // Unix milliseconds; 0 = not set.
  int64_t seen_at_ms = 0;
  int64_t read_at_ms = 0;
  int64_t archived_at_ms = 0;
  // Gone from lists, counts and replay from this time on; 0 = never.
  int64_t expires_at_ms = 0;
  // A newer notification with the same key on the channel replaced (deleted)
  // any older one; empty = none.
  std::string collapse_key;

  // In an inbox: its counts right after this entry was committed (every
  // entry of an inbox changes them or records a change). has_counts is
  // false elsewhere.
  bool has_counts = false;
  Counts counts;

  // The W3C trace id (common/trace_context.h) of the request that wrote
  // this entry, for the logs of every instance that delivers it; empty
  // when it came without one. Not stored: only the entry a write returns
  // (and the bus carries) has it, never a row read back.
  std::string trace_id;

  bool read() const { return read_at_ms != 0; }
  bool seen() const { return seen_at_ms != 0; }
  bool archived() const { return archived_at_ms != 0; }
  bool is_record() const { return kind != Kind::kNotification; }
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_NOTIFICATION_H_
