#include "edge/stream_request.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/url/authority_view.hpp"
#include "boost/url/parse.hpp"
#include "boost/url/url_view.hpp"
#include "edge/identity.h"

namespace notifyd::edge {

const std::string* HttpTarget::Find(absl::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::StatusOr<HttpTarget> ParseTarget(absl::string_view target) {
  auto parsed = boost::urls::parse_origin_form(
      boost::core::string_view(target.data(), target.size()));
  if (!parsed) return absl::InvalidArgumentError("malformed request target");
  HttpTarget out;
  out.path = parsed->path();
  for (auto param : parsed->params()) {
    out.params.emplace_back(std::string(param.key), std::string(param.value));
  }
  return out;
}

std::string EscapeForEcho(absl::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\\') {
      out += "\\\\";
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

absl::Status CheckRequestHeader(unsigned version,
                                absl::Span<const HeaderField> fields) {
  auto count = [fields](absl::string_view name) {
    return std::count_if(fields.begin(), fields.end(),
                         [name](const HeaderField& f) {
                           return absl::EqualsIgnoreCase(f.name, name);
                         });
  };
  if (count("Transfer-Encoding") > 0) {
    return absl::InvalidArgumentError("Transfer-Encoding not accepted");
  }
  for (absl::string_view name : kSingleValuedHeaders) {
    if (count(name) > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("header given more than once: ", name));
    }
  }
  auto host =
      std::find_if(fields.begin(), fields.end(), [](const HeaderField& f) {
        return absl::EqualsIgnoreCase(f.name, "Host");
      });
  if (host == fields.end()) {
    if (version >= 11) return absl::InvalidArgumentError("missing Host header");
    return absl::OkStatus();
  }
  // Empty is what a client sends when the target has no authority.
  if (!host->value.empty()) {
    auto authority = boost::urls::parse_authority(
        boost::core::string_view(host->value.data(), host->value.size()));
    if (!authority || authority->has_userinfo()) {
      return absl::InvalidArgumentError("invalid Host header");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseChannelList(absl::string_view csv,
                                                          size_t max_channels) {
  std::vector<std::string> out;
  for (absl::string_view name : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    if (!IsValidChannelName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid channel name: ", EscapeForEcho(name.substr(0, 200))));
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) continue;
    if (out.size() == max_channels) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many channels (max ", max_channels, ")"));
    }
    out.emplace_back(name);
  }
  return out;
}

absl::StatusOr<std::optional<uint64_t>> ParseLastEventId(
    absl::string_view text) {
  if (text.empty()) return std::optional<uint64_t>();
  uint64_t id = 0;
  // SimpleAtoi accepts a leading '+' and surrounding spaces; we do not.
  bool digits = std::all_of(text.begin(), text.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !absl::SimpleAtoi(text, &id)) {
    return absl::InvalidArgumentError(
        "last event id must be a decimal 64-bit unsigned integer");
  }
  return std::optional<uint64_t>(id);
}

absl::StatusOr<StreamRequest> ParseStreamRequest(
    const HttpTarget& target, std::optional<absl::string_view> last_event_id,
    size_t max_channels) {
  for (absl::string_view key : kSingleValuedParams) {
    size_t n = std::count_if(target.params.begin(), target.params.end(),
                             [key](const auto& kv) { return kv.first == key; });
    if (n > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter given more than once: ", key));
    }
  }
  StreamRequest out;
  if (const std::string* channels = target.Find("channels")) {
    absl::StatusOr<std::vector<std::string>> list =
        ParseChannelList(*channels, max_channels);
    if (!list.ok()) return list.status();
    out.channels = *std::move(list);
  }
  absl::string_view id_text;
  if (last_event_id.has_value()) {
    id_text = *last_event_id;
  } else if (const std::string* q = target.Find("last_event_id")) {
    id_text = *q;
  }
  absl::StatusOr<std::optional<uint64_t>> id = ParseLastEventId(id_text);
  if (!id.ok()) return id.status();
  out.last_event_id = *id;
  return out;
}

}  // namespace notifyd::edge
