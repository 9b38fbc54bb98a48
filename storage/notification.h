// A stored notification: the unit that the store persists, the bus carries
// and the edge frames. Immutable once stored (shared as
// shared_ptr<const Notification>).
#ifndef NOTIFYD_STORAGE_NOTIFICATION_H_
#define NOTIFYD_STORAGE_NOTIFICATION_H_

#include <cstdint>
#include <string>

namespace notifyd::storage {

struct Notification {
  uint64_t id = 0;
  std::string channel;
  std::string event;
  std::string data;
  int64_t created_at_ms = 0;  // Unix time, milliseconds
  bool read = false;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_NOTIFICATION_H_
