// The JSON API routes of an HTTP session: the inbox's (GET /v1/inbox, GET
// /v1/inbox/counts, POST /v1/inbox/state; public listener), Web Push's
// (/v1/push/subscriptions, /v1/push/key; edge/push_api.h) and publishing
// (POST /v1/notify/{user_id}, POST /v1/publish/{channel}; admin listener).
// The request, with the body the session read within the route's limit,
// goes to InboxApi (edge/inbox_api.h) or, parsed by edge/publish_api.h, to
// the server's PublishFunction; either answers at once or from a store
// thread, and the reply is written as JSON, a refusal as {"error":...}.
// The call counts as a store call, so Shutdown waits for it.
//
// JsonHandler is a base of HttpSession (http_session.h) and H2Request
// (h2_request.h), which route to it; it reaches the session through
// session(), as its friend. Runs on the connection's strand; the reply is
// dispatched back to it.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h and h2_request.h only; the parts are
// listed in http_server.cc).
#ifndef NOTIFYD_EDGE_JSON_HANDLER_H_
#define NOTIFYD_EDGE_JSON_HANDLER_H_

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "boost/asio/dispatch.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/inbox_api.h"
#include "edge/publish_api.h"
#include "edge/push_api.h"
#include "edge/routes.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

// `Session` (CRTP) is HttpSession<Stream> or H2Request (h2_request.h).
template <typename Session>
class JsonHandler {
 protected:
  // Serves the request to `target`, routed to `id` (IsInboxRoute or
  // IsPushRoute).
  void ServeInbox(RouteId id, const HttpTarget& target) {
    auto& s = session();
    Answer(target.path, [&](std::function<void(ApiReply)> done) {
      InboxRequest request =
          InboxRequestOf(id, s.request_, target, s.body_, s.kTls);
      if (IsPushRoute(id)) {
        s.server_.push.Serve(request, std::move(done));
      } else {
        s.server_.inbox.Serve(request, std::move(done));
      }
    });
  }

  // Serves the request to `target`, routed to `id` (IsPublishRoute): 404
  // where no PublishFunction is configured, 503 while the listener is not
  // ready (starting, or shutting down).
  void ServePublish(RouteId id, const HttpTarget& target) {
    auto& s = session();
    const PublishFunction& publish = s.server_.options.publish;
    if (!publish) {
      return s.SendApiError(target.path, http::status::not_found, "not found",
                            s.request_.keep_alive());
    }
    if (!s.server_.ready) {
      return s.SendApiError(target.path, http::status::service_unavailable,
                            "not publishing: notifyd is starting or shutting "
                            "down",
                            s.request_.keep_alive());
    }
    absl::StatusOr<PublishCall> call =
        ParsePublishRequest(id, View(s.request_.target()), target);
    if (!call.ok()) {
      return s.SendApiError(target.path, HttpStatusFor(call.status()),
                            call.status().message(), s.request_.keep_alive());
    }
    call->data = s.body_;
    if (auto it = s.request_.find(http::field::authorization);
        it != s.request_.end()) {
      call->authorization = View(it->value());
    }
    call->peer = s.PeerAddress();
    call->trace_id = TraceIdOf(s.request_);
    Answer(target.path, [&](std::function<void(ApiReply)> done) {
      publish(*call, [done = std::move(done)](PublishOutcome outcome) {
        done(ReplyOf(outcome));
      });
    });
  }

 private:
  Session& session() { return static_cast<Session&>(*this); }

  // Runs `start` with the callback its reply goes to (at once, or from a
  // store thread), counted as a store call; the reply is written on the
  // strand.
  template <typename Start>
  void Answer(absl::string_view path, Start start) {
    auto& s = session();
    s.server_.StoreCallStarted();
    start([self = s.shared_from_this(),
           path = std::string(path)](ApiReply r) mutable {
      auto& server = self->server_;
      {
        // The session and the executor copy are let go before
        // StoreCallDone(): once every store call is done, shutdown may
        // destroy the io_context they belong to.
        auto executor = self->executor_;
        net::dispatch(executor,
                      [self = std::move(self), path = std::move(path),
                       r = std::move(r)] { self->SendReply(path, r); });
      }
      server.StoreCallDone();
    });
  }

  void SendReply(absl::string_view path, const ApiReply& reply) {
    auto& s = session();
    if (s.closed_) return;
    if (!reply.status.ok()) {
      ExtraFields fields;
      if (reply.retry_after > absl::ZeroDuration()) {
        fields.emplace_back(http::field::retry_after,
                            absl::StrCat(static_cast<int64_t>(std::ceil(
                                absl::ToDoubleSeconds(reply.retry_after)))));
      }
      return s.SendApiError(path, HttpStatusFor(reply.status),
                            reply.status.message(), s.request_.keep_alive(),
                            std::move(fields));
    }
    if (reply.http_status == 204) return s.SendNoContent(path);
    s.Send(path, static_cast<http::status>(reply.http_status),
           "application/json", reply.json);
  }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_JSON_HANDLER_H_
