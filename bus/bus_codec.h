// The bytes a notification travels as on a shared bus (Redis pub/sub):
// one JSON object,
//   {"v":1,"origin":"<16 hex>","id":N,"channel":"...","event":"...",
//    "data":"...","created_at_ms":N}
// plus, only when set, the inbox fields: "kind" (a record, see
// storage/notification.h), "expires_at_ms", "collapse_key", the counts
// after the entry, "unread" and "unseen", and "trace_id" (the W3C trace id
// of the request that wrote it, so that every instance logs it with its
// delivery). Messages without trace_id (from instances that predate it)
// decode as before; a trace_id that is not 32 lowercase hex digits is
// ignored, the notification delivered without it.
// JSON because it is what an operator sees with `redis-cli SUBSCRIBE`, and
// other tools can read it; `v` lets a later format coexist during a rolling
// upgrade. `origin` names the sending bus so it can ignore its own echo.
#ifndef NOTIFYD_BUS_BUS_CODEC_H_
#define NOTIFYD_BUS_BUS_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/notification.h"

namespace notifyd::bus {

struct BusMessage {
  uint64_t origin = 0;
  std::shared_ptr<const storage::Notification> notification;
};

std::string EncodeBusMessage(uint64_t origin, const storage::Notification& n);

// INVALID_ARGUMENT saying what is wrong with `bytes`. Never throws.
absl::StatusOr<BusMessage> DecodeBusMessage(absl::string_view bytes);

}  // namespace notifyd::bus

#endif  // NOTIFYD_BUS_BUS_CODEC_H_
