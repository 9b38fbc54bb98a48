#include "bus/bus_codec.h"

#include <boost/json.hpp>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/trace_context.h"

namespace notifyd::bus {
namespace {

constexpr int kVersion = 1;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("bus message: ", what));
}

// Reads an unsigned integer field, also when JSON gave it as int64.
bool ReadUint(const boost::json::object& o, std::string_view key,
              uint64_t* out) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return false;
  if (const uint64_t* u = v->if_uint64()) {
    *out = *u;
    return true;
  }
  if (const int64_t* i = v->if_int64(); i != nullptr && *i >= 0) {
    *out = static_cast<uint64_t>(*i);
    return true;
  }
  return false;
}

const boost::json::string* ReadString(const boost::json::object& o,
                                      std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v == nullptr ? nullptr : v->if_string();
}

}  // namespace

std::string EncodeBusMessage(uint64_t origin, const storage::Notification& n) {
  boost::json::object o;
  o["v"] = kVersion;
  o["origin"] = absl::StrFormat("%016x", origin);
  o["id"] = n.id;
  o["channel"] = n.channel;
  o["event"] = n.event;
  o["data"] = n.data;
  o["created_at_ms"] = n.created_at_ms;
  // The inbox fields, only when set, so a plain notification stays as short
  // as it was.
  if (n.is_record()) o["kind"] = static_cast<int>(n.kind);
  if (n.expires_at_ms != 0) o["expires_at_ms"] = n.expires_at_ms;
  if (!n.collapse_key.empty()) o["collapse_key"] = n.collapse_key;
  if (n.has_counts) {
    o["unread"] = n.counts.unread;
    o["unseen"] = n.counts.unseen;
  }
  if (!n.trace_id.empty()) o["trace_id"] = n.trace_id;
  return boost::json::serialize(o);
}

absl::StatusOr<BusMessage> DecodeBusMessage(absl::string_view bytes) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  // The data is opaque to the bus; the store accepted it as it is.
  options.allow_invalid_utf8 = true;
  boost::json::value v = boost::json::parse(
      std::string_view(bytes.data(), bytes.size()), ec, {}, options);
  if (ec) return Malformed(absl::StrCat("not JSON: ", ec.message()));
  const boost::json::object* o = v.if_object();
  if (o == nullptr) return Malformed("not a JSON object");
  uint64_t version = 0;
  if (!ReadUint(*o, "v", &version) || version != kVersion) {
    return Malformed("unknown version");
  }
  BusMessage message;
  const boost::json::string* origin = ReadString(*o, "origin");
  if (origin == nullptr || origin->empty() || origin->size() > 16) {
    return Malformed("bad origin");
  }
  auto [end, origin_ec] = std::from_chars(
      origin->data(), origin->data() + origin->size(), message.origin, 16);
  if (origin_ec != std::errc() || end != origin->data() + origin->size()) {
    return Malformed("bad origin");
  }
  auto n = std::make_shared<storage::Notification>();
  if (!ReadUint(*o, "id", &n->id) || n->id == 0) return Malformed("bad id");
  const boost::json::string* channel = ReadString(*o, "channel");
  const boost::json::string* event = ReadString(*o, "event");
  const boost::json::string* data = ReadString(*o, "data");
  if (channel == nullptr || channel->empty()) return Malformed("bad channel");
  if (event == nullptr) return Malformed("bad event");
  if (data == nullptr) return Malformed("bad data");
  const boost::json::value* created = o->if_contains("created_at_ms");
  const int64_t* created_ms = created ? created->if_int64() : nullptr;
  if (created_ms == nullptr) {
    // Small positive numbers parse as int64; only a uint64 beyond int64
    // lands here, which is not a time.
    return Malformed("bad created_at_ms");
  }
  n->channel = std::string(*channel);
  n->event = std::string(*event);
  n->data = std::string(*data);
  n->created_at_ms = *created_ms;
  if (o->contains("kind")) {
    uint64_t kind = 0;
    if (!ReadUint(*o, "kind", &kind) ||
        kind > static_cast<uint64_t>(
                   storage::Notification::Kind::kDeletionRecord)) {
      return Malformed("bad kind");
    }
    n->kind = static_cast<storage::Notification::Kind>(kind);
  }
  if (const boost::json::value* expires = o->if_contains("expires_at_ms")) {
    const int64_t* ms = expires->if_int64();
    if (ms == nullptr) return Malformed("bad expires_at_ms");
    n->expires_at_ms = *ms;
  }
  if (o->contains("collapse_key")) {
    const boost::json::string* key = ReadString(*o, "collapse_key");
    if (key == nullptr) return Malformed("bad collapse_key");
    n->collapse_key = std::string(*key);
  }
  if (o->contains("unread") || o->contains("unseen")) {
    if (!ReadUint(*o, "unread", &n->counts.unread) ||
        !ReadUint(*o, "unseen", &n->counts.unseen)) {
      return Malformed("bad counts");
    }
    n->has_counts = true;
  }
  if (const boost::json::string* trace_id = ReadString(*o, "trace_id");
      trace_id != nullptr &&
      IsValidTraceId(absl::string_view(trace_id->data(), trace_id->size()))) {
    n->trace_id = std::string(*trace_id);
  }
  message.notification = std::move(n);
  return message;
}

}  // namespace notifyd::bus
