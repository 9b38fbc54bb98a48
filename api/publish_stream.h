// PublishStream (notify.v1.Notifier): one producer's stream of NotifyUser
// and Publish messages, each answered with its `ref` once committed, in the
// order sent (docs/DESIGN.md, "Publishing at rate").
//
// Each message runs through the same handler as its unary call
// (NotifierService::HandleNotifyUser / HandlePublish: validation, publish
// rate, store, bus), with an Entry of this stream standing in for a unary
// reactor. Entries wait in a queue in the order read; the head is written
// once it is done, one write in flight. The store commits in submission
// order, so answers in read order are answers in commit order.
//
// Flow control: the next message is read only while fewer than
// max_stream_inflight messages (and kMaxInflightBytes of them) are read
// and not yet answered; otherwise reading waits for a write to complete,
// and gRPC's flow control holds the producer back. A producer that never
// reads its answers so holds at most that much.
//
// Lifetime: gRPC owns the reactor until OnDone; entries still waiting for
// their commit keep it alive after that (an answered or cancelled stream's
// commits still happen and are published; only their answers go nowhere).
// The reactor deletes itself when both are over.
//
// Threading: gRPC callback threads (reads, writes, refusals) and the store's
// completer thread (commits) touch the queue under mu_; StartRead,
// StartWrite and Finish are called without it, and Finish only once no
// Start decided before it is still to be made (starting_).
#ifndef NOTIFYD_API_PUBLISH_STREAM_H_
#define NOTIFYD_API_PUBLISH_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "api/notifier_service.h"
#include "notify/v1/notify.pb.h"

namespace notifyd::api {

class PublishStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Most bytes of messages read ahead of their answers.
  static constexpr size_t kMaxInflightBytes = 16 << 20;
  // Longest `ref`.
  static constexpr size_t kMaxRefBytes = 128;

  // Authenticates the stream (as a unary call) and starts reading, or
  // finishes it UNAUTHENTICATED.
  PublishStreamReactor(NotifierService& service,
                       grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  class Entry;
  using Call = NotifierService::Call;

  // Runs one parsed message through its handler (which ends in Entry::Done).
  void Dispatch(Entry* entry);
  void EntryDone(Entry* entry, grpc::Status status);
  // Applies `change` under mu_ and, in the same critical section, decides
  // what follows: write the head once it is done, read on while there is
  // room, finish once everything read is answered (or the producer is
  // gone), delete this once gRPC and every entry are done. Then does it,
  // without mu_. Called without mu_.
  void Advance(absl::FunctionRef<void()> change);

  NotifierService& service_;
  grpc::CallbackServerContext* const context_;
  Call call_;  // the stream's own: its caller, counted when it finishes
  grpc::ByteBuffer read_buffer_;   // one read in flight
  grpc::ByteBuffer write_buffer_;  // one write in flight

  absl::Mutex mu_;
  // Read and not yet written, in read order.
  std::deque<std::unique_ptr<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Entries whose handler has not called Done yet (they keep the reactor).
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a write failed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool on_done_ ABSL_GUARDED_BY(mu_) = false;
  bool destroying_ ABSL_GUARDED_BY(mu_) = false;
  // StartWrite/StartRead calls decided under mu_ and not yet made. A
  // Finish decided meanwhile (on another thread) waits in pending_finish_
  // for the last of them: a Start after Finish could reach a call gRPC has
  // already freed.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_PUBLISH_STREAM_H_
