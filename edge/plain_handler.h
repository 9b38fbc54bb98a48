// The plain routes of an HTTP session, answered without a body to read or
// a caller to authenticate: liveness (/healthz), the metrics
// (Prometheus text), readiness (/readyz, which the server decides at once
// or once the store answered a Ping) and the inbox page and its assets
// (web_assets.h).
//
// PlainHandler is a base of HttpSession (http_session.h), which routes to
// it; it reaches the session through session(), as its friend. Runs on the
// connection's strand; the readiness answer comes back to it.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h only; the parts are listed in
// http_server.cc).
#ifndef NOTIFYD_EDGE_PLAIN_HANDLER_H_
#define NOTIFYD_EDGE_PLAIN_HANDLER_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boost/asio/dispatch.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/routes.h"
#include "edge/web_assets.h"

namespace notifyd::edge::internal {

// `Session` (CRTP) is HttpSession<Stream> or H2Request (h2_request.h).
template <typename Session>
class PlainHandler {
 protected:
  // Answers the request to `path`, routed to `id`: kHealth, kMetrics,
  // kReady or kWebFile.
  void ServePlain(RouteId id, absl::string_view path) {
    auto& s = session();
    switch (id) {
      case RouteId::kHealth:
        return s.Send(path, http::status::ok, "text/plain; charset=utf-8",
                      "ok\n");
      case RouteId::kMetrics:
        return s.Send(path, http::status::ok, "text/plain; version=0.0.4",
                      s.server_.metrics.RenderText());
      case RouteId::kReady:
        return AnswerReady();
      default:  // kWebFile
        break;
    }
    absl::StatusOr<WebFile> file =
        LoadWebFile(path, s.server_.options.web_root);
    if (!file.ok()) {
      return s.SendError(path, HttpStatusFor(file.status()),
                         file.status().message(), s.request_.keep_alive());
    }
    if (!file->service_worker) {
      return s.Send(path, http::status::ok, file->content_type,
                    std::move(file->body));
    }
    auto res = MakeResponse(s.request_, s.server_.options.cors_origins,
                            http::status::ok, file->content_type,
                            std::move(file->body), s.request_.keep_alive(), {});
    res->set("Service-Worker-Allowed", "/");
    s.WriteResponse(path, std::move(res));
  }

 private:
  Session& session() { return static_cast<Session&>(*this); }

  // The server decides, at once or once the store answered its Ping.
  void AnswerReady() {
    auto& s = session();
    s.server_.CheckReady([self = s.shared_from_this()](bool ready,
                                                       std::string body) {
      net::dispatch(self->executor_, [self, ready, body]() mutable {
        self->Send("/readyz",
                   ready ? http::status::ok : http::status::service_unavailable,
                   "text/plain; charset=utf-8", std::move(body));
      });
    });
  }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_PLAIN_HANDLER_H_
