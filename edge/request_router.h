// Routing one request, over HTTP/1.1 or HTTP/2 alike: its target parsed, a
// CORS preflight answered from the route table, 404 and 405 from it, and
// every other request handed to its route's handler: the session's own
// OpenStream for /v1/stream (HTTP/1.1 hands its socket to an SseStream,
// HTTP/2 opens an SSE stream on its HTTP/2 stream), ServeInbox and
// ServePublish (json_handler.h) and ServePlain (plain_handler.h).
//
// RequestRouter is a base of `Session` (CRTP): HttpSession<Stream>
// (http_session.h) or H2Request (h2_request.h), which reaches its state as
// its friend: server_, request_, AdmitRequest (a last word before routing:
// HTTP/1.1 applies --trusted_proxies there) and the answers of
// HttpResponses. Adding a
// route is its line in the table (routes.h), its case here and its handler.
// Runs on the connection's strand.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_REQUEST_ROUTER_H_
#define NOTIFYD_EDGE_REQUEST_ROUTER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/routes.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

template <typename Session>
class RequestRouter {
 protected:
  // Answers the session's request_ (with its body, if its route takes one)
  // or hands it to the handler that will.
  void Route() {
    auto& s = session();
    const auto& req = s.request_;
    absl::StatusOr<HttpTarget> target = ParseTarget(View(req.target()));
    if (!target.ok()) {
      return s.SendError("other", http::status::bad_request,
                         target.status().message(), false);
    }
    const std::string& path = target->path;
    if (!s.AdmitRequest(path)) return;  // answered
    if (req.method() == http::verb::options) return s.SendPreflight(path);

    std::optional<edge::Route> route = FindRoute(path, s.server_.options.role);
    if (!route) {
      return s.SendError(path, http::status::not_found, "not found",
                         req.keep_alive());
    }
    if (!route->Allows(MethodOf(req.method()))) {
      return s.SendMethodNotAllowed(path, *route, req.keep_alive());
    }
    // One case per handler part; a new route family adds its own.
    switch (route->id) {
      case RouteId::kStream:
        return s.OpenStream(*target);
      case RouteId::kInboxList:
      case RouteId::kInboxCounts:
      case RouteId::kInboxState:
      case RouteId::kPushSubscriptions:
      case RouteId::kPushKey:
        return s.ServeInbox(route->id, *target);  // json_handler.h
      case RouteId::kNotifyUser:
      case RouteId::kPublish:
        return s.ServePublish(route->id, *target);  // json_handler.h
      case RouteId::kHealth:
      case RouteId::kMetrics:
      case RouteId::kReady:
      case RouteId::kWebFile:
        return s.ServePlain(route->id, path);  // plain_handler.h
    }
  }

 private:
  Session& session() { return static_cast<Session&>(*this); }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_REQUEST_ROUTER_H_
