// The JSON inbox routes of an HTTP session (GET /v1/inbox, GET
// /v1/inbox/counts, POST /v1/inbox/state): the request, with the body the
// session read within the route's limit, goes to InboxApi
// (edge/inbox_api.h), which authenticates it and answers at once or from a
// store thread; the reply is written as JSON, a refusal as {"error":...}.
// The call counts as a store call, so Shutdown waits for it.
//
// InboxHandler is a base of HttpSession (http_session.h), which routes to
// it; it reaches the session through session(), as its friend. Runs on the
// connection's strand; the reply is dispatched back to it.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h only; the parts are listed in
// http_server.cc).
#ifndef NOTIFYD_EDGE_INBOX_HANDLER_H_
#define NOTIFYD_EDGE_INBOX_HANDLER_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "boost/asio/dispatch.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/inbox_api.h"
#include "edge/routes.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

// `Session` (CRTP) is HttpSession<Stream> or H2Request (h2_request.h).
template <typename Session>
class InboxHandler {
 protected:
  // Serves the request to `target`, routed to `id` (IsInboxRoute). InboxApi
  // answers at once or from a store thread; either way the reply is written
  // on the strand.
  void ServeInbox(RouteId id, const HttpTarget& target) {
    auto& s = session();
    s.server_.StoreCallStarted();
    s.server_.inbox.Serve(
        InboxRequestOf(id, s.request_, target, s.body_, s.kTls),
        [self = s.shared_from_this(),
         path = target.path](InboxReply r) mutable {
          auto& server = self->server_;
          {
            // The session and the executor copy are let go before
            // StoreCallDone(): once every store call is done, shutdown may
            // destroy the io_context they belong to.
            auto executor = self->executor_;
            net::dispatch(executor,
                          [self = std::move(self), path, r = std::move(r)] {
                            self->SendInboxReply(path, r);
                          });
          }
          server.StoreCallDone();
        });
  }

 private:
  Session& session() { return static_cast<Session&>(*this); }

  void SendInboxReply(absl::string_view path, const InboxReply& reply) {
    auto& s = session();
    if (s.closed_) return;
    if (!reply.status.ok()) {
      return s.SendApiError(path, HttpStatusFor(reply.status),
                            reply.status.message(), s.request_.keep_alive());
    }
    s.Send(path, http::status::ok, "application/json", reply.json);
  }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_INBOX_HANDLER_H_
