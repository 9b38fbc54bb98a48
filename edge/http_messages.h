// The Beast messages of an HTTP session: the header rules on a request as
// read, and what it answers: plain responses
// (with CORS, nosniff, no-store and any extra fields), CORS preflights from
// the route table, the bodies of error answers (text, or JSON on the JSON
// routes), the InboxRequest (edge/inbox_api.h) a request to an inbox
// route becomes, and a request's trace id. Pure functions; no I/O.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h and its parts http_responses.h,
// json_handler.h and stream_admission.h only).
#ifndef NOTIFYD_EDGE_HTTP_MESSAGES_H_
#define NOTIFYD_EDGE_HTTP_MESSAGES_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "common/trace_context.h"
#include "edge/edge_server_impl.h"
#include "edge/inbox_api.h"
#include "edge/routes.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

using Request = http::request<http::empty_body>;
using Response = http::response<http::string_body>;
// Fields an answer carries besides the usual ones (Allow, WWW-Authenticate).
using ExtraFields = std::vector<std::pair<http::field, std::string>>;

// CheckRequestHeader (stream_request.h) on a request's header as read.
inline absl::Status CheckHeaderOf(const Request& request) {
  std::vector<HeaderField> fields;
  for (const auto& field : request) {
    fields.push_back({View(field.name_string()), View(field.value())});
  }
  return CheckRequestHeader(request.version(), fields);
}

// The Method bit (routes.h) of `verb`; 0 for a method no route answers.
inline uint8_t MethodOf(http::verb verb) {
  switch (verb) {
    case http::verb::get:
      return kGet;
    case http::verb::head:
      return kHead;
    case http::verb::post:
      return kPost;
    case http::verb::delete_:
      return kDelete;
    default:
      return 0;
  }
}

// A response to `request` (HTTP/1.0 clients get 1.0; anything else,
// including a request that never parsed, what we speak) with no-store,
// nosniff and CORS for `cors_origins`. A HEAD gets the length, no body.
inline std::shared_ptr<Response> MakeResponse(
    const Request& request, const std::vector<std::string>& cors_origins,
    http::status status, absl::string_view content_type, std::string body,
    bool keep_alive, ExtraFields fields) {
  auto res =
      std::make_shared<Response>(status, request.version() == 10 ? 10 : 11);
  res->set(http::field::server, "notifyd");
  res->set(http::field::content_type,
           beast::string_view(content_type.data(), content_type.size()));
  res->set(http::field::cache_control, "no-store");
  res->set("X-Content-Type-Options", "nosniff");
  AddCors(*res, request, cors_origins);
  for (auto& [name, value] : fields) res->set(name, std::move(value));
  size_t length = body.size();
  if (request.method() != http::verb::head) res->body() = std::move(body);
  res->content_length(length);
  res->keep_alive(keep_alive);
  return res;
}

// The answer to a CORS preflight for `route`: its methods and the request
// headers another origin may send (routes.h), cached for 10 minutes.
inline std::shared_ptr<Response> MakePreflight(
    const Request& request, const std::vector<std::string>& cors_origins,
    const Route& route) {
  auto res =
      std::make_shared<Response>(http::status::no_content, request.version());
  res->set("X-Content-Type-Options", "nosniff");
  AddCors(*res, request, cors_origins);
  res->set(http::field::access_control_allow_methods, AllowedMethods(route));
  if (!route.cors_headers.empty()) {
    res->set(http::field::access_control_allow_headers,
             beast::string_view(route.cors_headers.data(),
                                route.cors_headers.size()));
  }
  res->set(http::field::access_control_max_age, "600");
  res->keep_alive(request.keep_alive());
  return res;
}

// The text/plain body of an error. A value from the request belongs in
// `message` only through EscapeForEcho; should a raw byte outside printable
// ASCII still get here, the whole message is escaped, so no echo can split
// the body or carry control bytes.
inline std::string ErrorText(absl::string_view message) {
  bool printable = std::all_of(message.begin(), message.end(),
                               [](char c) { return c >= 0x20 && c < 0x7f; });
  return absl::StrCat(printable ? std::string(message) : EscapeForEcho(message),
                      "\n");
}

// The trace id of the request's `traceparent` header
// (common/trace_context.h), a view into the request; empty when it is
// absent, repeated or malformed.
inline absl::string_view TraceIdOf(const Request& request) {
  auto [first, last] = request.equal_range("traceparent");
  if (first == last || std::next(first) != last) return {};
  return TraceIdFromTraceparent(View(first->value()));
}

// What InboxApi needs of `request` to `target`; views into both and `body`.
inline InboxRequest InboxRequestOf(RouteId route, const Request& request,
                                   const HttpTarget& target,
                                   absl::string_view body, bool tls) {
  auto header = [&request](http::field f) -> absl::string_view {
    auto it = request.find(f);
    return it == request.end() ? absl::string_view() : View(it->value());
  };
  InboxRequest in;
  in.route = route;
  in.method = MethodOf(request.method());
  in.target = &target;
  in.authorization = header(http::field::authorization);
  in.cookie = header(http::field::cookie);
  if (auto it = request.find(http::field::origin); it != request.end()) {
    in.origin = View(it->value());
  }
  in.content_type = header(http::field::content_type);
  in.host = header(http::field::host);
  in.tls = tls;
  in.body = body;
  in.trace_id = TraceIdOf(request);
  return in;
}

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_MESSAGES_H_
