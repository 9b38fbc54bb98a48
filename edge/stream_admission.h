// Who may open a stream, and within which limits: the step between an HTTP
// session routing GET /v1/stream and handing its socket to an SSE stream.
// AdmitStream reads the stream's parameters (channels, Last-Event-ID),
// authenticates the caller (token or, in development, ?user=), checks the
// channels are the caller's, and applies the stream limits: channels per
// stream, opens per second per user, streams per user. Every refusal is
// counted in notifyd_limit_rejections_total when a limit caused it.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by stream_handler.h, the HTTP session's part for
// /v1/stream, only). Runs on the connection's strand.
#ifndef NOTIFYD_EDGE_STREAM_ADMISSION_H_
#define NOTIFYD_EDGE_STREAM_ADMISSION_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/message.hpp"
#include "common/log.h"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/identity.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

// An admitted stream: whose it is and what it asked for. The user holds one
// of its max_streams_per_user places (Impl::AcquireStream), which whoever
// takes this must release (the SSE stream does, when it ends).
struct AdmittedStream {
  std::string user;
  StreamRequest params;
};

// A refused stream, and how to answer it: an error (`message` as
// text/plain, the connection then closed) or, over the open rate, a 200
// whose SSE body is only `retry:` (EventSource gives up for good on any
// other status, but reconnects after a stream ends).
struct StreamRefusal {
  http::status status = http::status::bad_request;
  std::string message;
  bool retry_body = false;  // `message` is the SSE body of a 200
};

// The refusal, logged at debug with the client's address `peer`.
inline StreamRefusal Refuse(StreamRefusal refusal, absl::string_view peer,
                            absl::string_view trace_id) {
  Log(spdlog::level::debug, "edge: stream refused",
      {{"status", static_cast<unsigned>(refusal.status)},
       {"error", refusal.retry_body ? "stream open rate" : refusal.message},
       {"peer", peer},
       {"trace_id", trace_id}});
  return refusal;
}

// Admits or refuses the stream `request` asks for at `target`, from the
// client at `peer` (for the log). Never reads the store. On the
// connection's strand.
inline std::variant<AdmittedStream, StreamRefusal> AdmitStream(
    Impl& server, const HttpTarget& target,
    const http::request<http::empty_body>& request, absl::string_view peer) {
  const absl::string_view trace_id = TraceIdOf(request);
  // Last-Event-ID, Authorization and Cookie appear at most once here
  // (CheckRequestHeader), so find() cannot pick one copy of several.
  std::optional<absl::string_view> header_id;
  if (auto it = request.find("Last-Event-ID"); it != request.end()) {
    header_id = View(it->value());
  }
  absl::StatusOr<StreamRequest> params = ParseStreamRequest(
      target, header_id, server.options.max_channels_per_stream);
  if (!params.ok()) {
    if (params.status().code() == absl::StatusCode::kResourceExhausted) {
      server.LimitRejected(kLimitChannelsPerStream);
    }
    return Refuse(
        {http::status::bad_request, std::string(params.status().message())},
        peer, trace_id);
  }
  AuthInputs auth;
  if (auto it = request.find(http::field::authorization); it != request.end()) {
    auth.authorization = View(it->value());
  }
  if (auto it = request.find(http::field::cookie); it != request.end()) {
    auth.cookie = View(it->value());
  }
  if (const std::string* t = target.Find("access_token")) {
    auth.access_token = *t;
  }
  if (const std::string* u = target.Find("user")) {
    auth.dev_user = *u;
    auth.has_dev_user = true;
  }
  absl::StatusOr<Identity> id = Authenticate(auth, server.identity);
  absl::Status allowed =
      id.ok() ? Authorize(*id, params->channels) : id.status();
  if (!allowed.ok()) {
    return Refuse({HttpStatusFor(allowed), std::string(allowed.message())},
                  peer, trace_id);
  }
  if (absl::Duration wait = server.stream_opens.TryAcquire(id->user);
      wait > absl::ZeroDuration()) {
    // Not a 429: a stream that only says when to come back keeps
    // EventSource reconnecting at the limit's pace, and costs no store read.
    server.LimitRejected(kLimitStreamOpenRate);
    int64_t retry_ms = std::max<int64_t>(
        server.options.retry_ms,
        absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
    return Refuse({http::status::ok,
                   absl::StrCat("retry: ", retry_ms,
                                "\n: too many stream opens, retry later\n\n"),
                   /*retry_body=*/true},
                  peer, trace_id);
  }
  if (!server.AcquireStream(id->user)) {
    server.LimitRejected(kLimitStreamsPerUser);
    return Refuse(
        {http::status::too_many_requests, "too many streams for this user"},
        peer, trace_id);
  }
  params->trace_id = std::string(trace_id);
  return AdmittedStream{std::move(id->user), *std::move(params)};
}

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_STREAM_ADMISSION_H_
