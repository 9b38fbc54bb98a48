#include "edge/state_change_body.h"

#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/json/basic_parser_impl.hpp"
#include "edge/stream_request.h"

namespace notifyd::edge {
namespace {

namespace json = boost::json;

// Members of the body, as bits (each may appear once).
enum Member : uint8_t {
  kNone = 0,
  kIds = 1,
  kUpToId = 2,
  kSeen = 4,
  kRead = 8,
  kArchived = 16,
};

// Longest member name worth reading; longer ones are unknown.
constexpr size_t kMaxKeyBytes = 16;

class StateBodyHandler {
 public:
  // Boost enforces none of these: the handler does, with clearer messages.
  static constexpr size_t max_object_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_array_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_key_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_string_size = std::numeric_limits<size_t>::max();

  storage::StateChange change;
  std::string error;  // set when the handler refused the body
  uint8_t given = kNone;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) {
    if (depth_ != 0) return WrongType(ec);
    depth_ = 1;
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    depth_ = 0;
    return true;
  }
  bool on_array_begin(json::error_code& ec) {
    if (depth_ != 1 || member_ != kIds) return WrongType(ec);
    depth_ = 2;
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    depth_ = 1;
    return true;
  }

  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    AppendKey(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    AppendKey(s);
    std::string key = std::move(key_);
    key_.clear();
    static constexpr std::pair<absl::string_view, Member> kMembers[] = {
        {"ids", kIds},   {"up_to_id", kUpToId},   {"seen", kSeen},
        {"read", kRead}, {"archived", kArchived},
    };
    for (const auto& [name, member] : kMembers) {
      if (key != name) continue;
      if (given & member) {
        return Fail(ec, absl::StrCat("member given more than once: ", name));
      }
      given |= member;
      member_ = member;
      return true;
    }
    return Fail(ec, absl::StrCat("unknown member: ",
                                 EscapeForEcho(key.substr(0, kMaxKeyBytes))));
  }

  bool on_string_part(json::string_view, size_t, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_string(json::string_view, size_t, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code& ec) {
    if (i <= 0) return WrongType(ec);
    return OnId(static_cast<uint64_t>(i), ec);
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code& ec) {
    if (u == 0) return WrongType(ec);
    return OnId(u, ec);
  }
  bool on_double(double, json::string_view, json::error_code& ec) {
    return WrongType(ec);
  }
  bool on_bool(bool b, json::error_code& ec) {
    if (depth_ != 1) return WrongType(ec);
    switch (member_) {
      case kSeen:
        if (!b) return WrongType(ec);
        change.seen = true;
        return true;
      case kRead:
        change.read = b;
        return true;
      case kArchived:
        change.archived = b;
        return true;
      default:
        return WrongType(ec);
    }
  }
  bool on_null(json::error_code& ec) { return WrongType(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  void AppendKey(json::string_view s) {
    if (key_.size() <= kMaxKeyBytes) {
      key_.append(s.data(), std::min(s.size(), kMaxKeyBytes + 1));
    }
  }

  bool OnId(uint64_t id, json::error_code& ec) {
    if (depth_ == 2) {
      if (change.ids.size() == storage::kMaxChangeIds) {
        return Fail(ec, absl::StrCat("too many ids (max ",
                                     storage::kMaxChangeIds, ")"));
      }
      change.ids.push_back(id);
      return true;
    }
    if (depth_ == 1 && member_ == kUpToId) {
      change.up_to_id = id;
      return true;
    }
    return WrongType(ec);
  }

  // A value of the wrong type (or out of range) where it came.
  bool WrongType(json::error_code& ec) {
    if (depth_ == 0) return Fail(ec, "the body must be a JSON object");
    if (depth_ == 2) {
      return Fail(ec, "ids must be an array of positive integers");
    }
    switch (member_) {
      case kIds:
        return Fail(ec, "ids must be an array of positive integers");
      case kUpToId:
        return Fail(ec, "up_to_id must be a positive integer");
      case kSeen:
        return Fail(ec, "seen must be true (seen is never unset)");
      case kRead:
        return Fail(ec, "read must be true or false");
      case kArchived:
        return Fail(ec, "archived must be true or false");
      default:
        return Fail(ec, "the body must be a JSON object");
    }
  }

  bool Fail(json::error_code& ec, std::string message) {
    error = std::move(message);
    ec = json::make_error_code(json::error::exception);
    return false;
  }

  int depth_ = 0;  // 1: in the object; 2: in its ids array
  Member member_ = kNone;
  std::string key_;
};

}  // namespace

absl::Status CheckJsonContentType(absl::string_view content_type) {
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  media = absl::StripAsciiWhitespace(media);
  if (!absl::EqualsIgnoreCase(media, "application/json")) {
    return absl::FailedPreconditionError(
        "Content-Type must be application/json");
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::StateChange> ParseStateChange(absl::string_view body) {
  json::parse_options options;
  options.max_depth = 3;
  json::basic_parser<StateBodyHandler> parser(options);
  json::error_code ec;
  size_t used = parser.write_some(false, body.data(), body.size(), ec);
  StateBodyHandler& h = parser.handler();
  if (!h.error.empty()) return absl::InvalidArgumentError(h.error);
  if (ec) return absl::InvalidArgumentError("malformed JSON: " + ec.message());
  if (used != body.size()) {
    return absl::InvalidArgumentError("malformed JSON: data after the object");
  }
  if (h.change.ids.empty() && h.change.up_to_id == 0) {
    return absl::InvalidArgumentError(
        "no notifications named: give ids (non-empty) or up_to_id");
  }
  if (!h.change.seen && !h.change.read && !h.change.archived) {
    return absl::InvalidArgumentError("no change: give seen, read or archived");
  }
  return std::move(h.change);
}

}  // namespace notifyd::edge
