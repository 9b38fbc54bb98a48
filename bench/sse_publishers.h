// The publishers of bench/sse_load: they send the events its streams read,
// to notifyd over gRPC (NotifyUser, NotifyUsers or Publish) or to nchan's
// publisher location over HTTP/1.1. The caller makes the payloads
// (StampedPayload in bench/bench_util.h); a publisher only delivers them
// and reports the id the server gave each.
//
// Threading: Publish() is thread-safe and returns at once. Its `done` runs
// later, once, on a publisher thread (gRPC's, or the nchan publisher's
// own). A publish still outstanding when its publisher is destroyed may
// complete during or after the destructor, or never: `done` must own
// (share) whatever it touches.
#ifndef NOTIFYD_BENCH_SSE_PUBLISHERS_H_
#define NOTIFYD_BENCH_SSE_PUBLISHERS_H_

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace notifyd::bench {

// ok: the server accepted the event; id: the id it stored (notifyd) or
// nchan's last_message_id, possibly empty; err: why not, when !ok.
using PublishDone =
    std::function<void(bool ok, const std::string& id, const std::string& err)>;

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Publishes `data` to `key` (a user id or a channel: see the factories),
  // then calls `done` once.
  virtual void Publish(const std::string& key, std::string data,
                       PublishDone done) = 0;
};

// gRPC to notifyd, each call on the next of `channels` in turn. A publish
// is NotifyUser to user `key` when `notify_user`, else Publish to channel
// `key`. With `all_users` non-empty, it is instead one NotifyUsers call to
// all of them, whatever the key; its id is the first delivery's.
std::unique_ptr<Publisher> NewGrpcPublisher(
    std::vector<std::shared_ptr<grpc::Channel>> channels, bool notify_user,
    std::vector<std::string> all_users = {});

// HTTP/1.1 keep-alive POSTs to nchan's publisher location on `server`: the
// path is `path_template` with {user} and {channel} both replaced by the
// key, the Host header `host_header`. Runs its own I/O thread. Requests
// queue when every connection is busy; up to `max_connections` are opened
// on demand, one at a time.
std::unique_ptr<Publisher> NewNchanPublisher(
    boost::asio::ip::tcp::endpoint server, std::string host_header,
    std::string path_template, int max_connections);

// Publishes `n` stamped payloads (at least `payload_bytes` long) to `key`
// with up to 64 in flight, and waits for their answers; gives up when 60 s
// pass before all are sent, or 60 s more before all are answered. Returns
// whether all were acknowledged. Unless time runs out, *id becomes the id
// of the last one acknowledged, in completion order (so only meaningful
// for n == 1; empty when none was). On a time-out *error becomes
// "publishing timed out"; otherwise a failure's message is kept only if
// *error is empty, so a caller running several batches keeps the first.
// Blocks the calling thread.
bool PublishBatch(Publisher* publisher, const std::string& key, int n,
                  int payload_bytes, std::string* id, std::string* error);

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_SSE_PUBLISHERS_H_
