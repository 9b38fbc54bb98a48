#include "server/push_payload.h"

#include <boost/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "edge/inbox_api.h"

namespace notifyd::server {
namespace {

constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026, "…"

// The bytes `c` takes inside a JSON string as AppendEscaped writes it.
size_t EscapedSize(unsigned char c) {
  switch (c) {
    case '"':
    case '\\':
    case '\b':
    case '\f':
    case '\n':
    case '\r':
    case '\t':
      return 2;
    default:
      return c < 0x20 ? 6 : 1;
  }
}

size_t EscapedSize(absl::string_view text) {
  size_t size = 0;
  for (unsigned char c : text) size += EscapedSize(c);
  return size;
}

void AppendEscaped(std::string& out, absl::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

// The members of the payload, in order; empty ones are left out.
struct Fields {
  std::string id, event, title, body, icon, url, tag, created_at;
};

std::string Render(const Fields& f) {
  std::string out = "{";
  auto member = [&out](absl::string_view name, absl::string_view value) {
    if (value.empty()) return;
    if (out.size() > 1) out += ',';
    absl::StrAppend(&out, "\"", name, "\":\"");
    AppendEscaped(out, value);
    out += '"';
  };
  member("id", f.id);
  member("event", f.event);
  member("title", f.title);
  member("body", f.body);
  member("icon", f.icon);
  member("url", f.url);
  member("tag", f.tag);
  member("created_at", f.created_at);
  out += '}';
  return out;
}

// `name`'s value when it is a string member of `object`, else "".
std::string StringMember(const boost::json::object& object,
                         absl::string_view name) {
  const boost::json::value* v =
      object.if_contains(boost::json::string_view(name.data(), name.size()));
  if (v == nullptr || !v->is_string()) return "";
  return std::string(v->get_string());
}

}  // namespace

std::string ShortenForJson(absl::string_view text, size_t max_escaped) {
  if (EscapedSize(text) <= max_escaped) return std::string(text);
  const size_t ellipsis = kEllipsis.size();
  if (max_escaped < ellipsis) return "";
  size_t budget = max_escaped - ellipsis;
  size_t cut = 0;  // end of the prefix kept, always between characters
  size_t used = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // A character starts at any byte that is not a continuation byte.
    if ((c & 0xC0) != 0x80) cut = i;
    used += EscapedSize(c);
    if (used > budget) break;
  }
  // `cut` is the start of the character that did not fit whole.
  return absl::StrCat(text.substr(0, cut), kEllipsis);
}

std::string PushPayload(const storage::Notification& notification) {
  Fields f;
  f.id = absl::StrCat(notification.id);
  f.event = notification.event;
  f.tag = notification.collapse_key;
  f.created_at = edge::FormatRfc3339Millis(notification.created_at_ms);
  boost::system::error_code ec;
  boost::json::value data = boost::json::parse(notification.data, ec);
  if (!ec && data.is_object()) {
    const boost::json::object& object = data.get_object();
    f.title = StringMember(object, "title");
    f.body = StringMember(object, "body");
    f.icon = StringMember(object, "icon");
    f.url = StringMember(object, "url");
  }
  if (f.title.empty() && f.body.empty()) f.body = notification.data;
  f.title = ShortenForJson(f.title, kMaxPushTitleBytes);
  if (EscapedSize(f.icon) > kMaxPushUrlBytes) f.icon.clear();
  if (EscapedSize(f.url) > kMaxPushUrlBytes) f.url.clear();
  // What is left for the body: the rest rendered with an empty body, plus
  // the body member's name and quotes.
  std::string body = std::move(f.body);
  f.body.clear();
  const size_t rest = Render(f).size() + sizeof(",\"body\":\"\"") - 1;
  if (rest < kMaxPushPayloadBytes) {
    f.body = ShortenForJson(body, kMaxPushPayloadBytes - rest);
  }
  return Render(f);
}

}  // namespace notifyd::server
