// GET /v1/stream in an HTTP session: the caller is authenticated and the
// stream limits applied (AdmitStream, edge/stream_admission.h); a refusal
// is answered here, with the connection closed, and an admitted stream gets
// the socket, the request, the connection's registry entry and the user's
// place in max_streams_per_user: the session hands them to an SseStream
// (edge/sse_stream.h), the second part of the connection, and is done.
//
// StreamHandler is a base of HttpSession (http_session.h), which routes to
// it; it reaches the session through session(), as its friend. Runs on the
// connection's strand; it never reads the store.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h only; the parts are listed in
// http_server.cc).
#ifndef NOTIFYD_EDGE_STREAM_HANDLER_H_
#define NOTIFYD_EDGE_STREAM_HANDLER_H_

#include <memory>
#include <utility>
#include <variant>

#include "edge/edge_server_impl.h"
#include "edge/sse_stream.h"
#include "edge/stream_admission.h"
#include "edge/stream_request.h"

namespace notifyd::edge::internal {

template <typename Stream>
class HttpSession;

template <typename Stream>
class StreamHandler {
 protected:
  // Admits the stream the request to `target` asks for and hands the
  // connection to it, or answers the refusal.
  void OpenStream(const HttpTarget& target) {
    auto& s = session();
    std::string peer = s.PeerAddress();
    auto admission = AdmitStream(s.server_, target, s.request_, peer);
    if (auto* refused = std::get_if<StreamRefusal>(&admission)) {
      if (refused->retry_body) {
        return s.Send(target.path, refused->status, "text/event-stream",
                      std::move(refused->message), /*keep_alive=*/false);
      }
      return s.SendError(target.path, refused->status, refused->message,
                         /*keep_alive=*/false);
    }
    AdmittedStream& admitted = std::get<AdmittedStream>(admission);
    s.server_.CountRequest(target.path, http::status::ok);
    // The socket, its registry entry and the user's place in
    // max_streams_per_user go to the stream; this session is done.
    auto sse = std::make_shared<SseStream<Stream>>(
        s.server_, std::move(s.stream_), std::move(s.entry_), std::move(peer),
        std::move(admitted.user), std::move(admitted.params));
    s.sse_ = sse;
    s.closed_ = true;
    sse->Start(s.request_);
  }

 private:
  HttpSession<Stream>& session() {
    return static_cast<HttpSession<Stream>&>(*this);
  }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_STREAM_HANDLER_H_
