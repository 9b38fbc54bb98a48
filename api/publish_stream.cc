#include "api/publish_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "api/grpc_status.h"

namespace notifyd::api {

namespace pb = ::notify::v1;

// One message: its request, the response its handler fills, and whether
// it is done. Owned by the queue.
class PublishStreamReactor::Entry final : public StreamItem {
 public:
  explicit Entry(PublishStreamReactor* owner) : owner_(owner) {}
  void Done(grpc::Status status) override {
    owner_->EntryDone(this, std::move(status));
  }

  pb::PublishStreamRequest request;
  pb::PublishStreamResponse response;
  size_t bytes = 0;
  bool done = false;  // guarded by the owner's mu_

 private:
  PublishStreamReactor* const owner_;
};

PublishStreamReactor::PublishStreamReactor(NotifierService& service,
                                           grpc::CallbackServerContext* context)
    : service_(service), context_(context) {
  call_.method = NotifierService::Method::kPublishStream;
  if (absl::Status auth = service_.Authenticate(context, &call_); !auth.ok()) {
    grpc::Status status = ToGrpcStatus(auth);
    service_.Count(call_, status.error_code());
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(std::move(status));
    return;
  }
  Advance([] {});
}

void PublishStreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    // Half-closed by the producer, or the call is gone: answer what is
    // queued, then finish.
    return Advance([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      reading_ = false;
      reads_done_ = true;
    });
  }
  auto owned = std::make_unique<Entry>(this);
  Entry* entry = owned.get();
  entry->bytes = read_buffer_.Length();
  absl::Status parsed = ParseRequest(read_buffer_, &entry->request);
  {
    absl::MutexLock lock(&mu_);
    // reading_ stays true until the message is dispatched: an Advance on
    // another thread (a commit's answer) must not start the next read, or
    // the next message could reach the store first and commit first.
    queued_bytes_ += entry->bytes;
    queue_.push_back(std::move(owned));
    ++running_;  // until its Done
  }
  // Dispatched before the next read starts: the store sees messages in
  // the order read, so their commits (and answers) keep it.
  if (!parsed.ok()) {
    entry->Done(ToGrpcStatus(parsed));
  } else {
    Dispatch(entry);
  }
  Advance([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { reading_ = false; });
}

void PublishStreamReactor::Dispatch(Entry* entry) {
  Call call = call_;
  call.item = entry;
  const pb::PublishStreamRequest& request = entry->request;
  entry->response.set_ref(request.ref());
  if (request.ref().size() > kMaxRefBytes) {
    return service_.Finish(
        call, absl::InvalidArgumentError(absl::StrCat(
                  "ref is ", request.ref().size(), " bytes; at most ",
                  kMaxRefBytes, " are allowed")));
  }
  switch (request.request_case()) {
    case pb::PublishStreamRequest::kNotifyUser:
      call.method = NotifierService::Method::kNotifyUser;
      return service_.HandleNotifyUser(context_, call, request.notify_user(),
                                       entry->response.mutable_notify_user());
    case pb::PublishStreamRequest::kPublish:
      call.method = NotifierService::Method::kPublish;
      return service_.HandlePublish(context_, call, request.publish(),
                                    entry->response.mutable_publish());
    default:
      return service_.Finish(
          call, absl::InvalidArgumentError(
                    "a PublishStream message carries notify_user or publish"));
  }
}

void PublishStreamReactor::EntryDone(Entry* entry, grpc::Status status) {
  Advance([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    entry->done = true;
    --running_;
    if (!status.ok()) {
      entry->response.clear_response();
      entry->response.set_code(static_cast<uint32_t>(status.error_code()));
      entry->response.set_message(status.error_message());
    }
  });
}

void PublishStreamReactor::OnWriteDone(bool ok) {
  Advance([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = false;
    // The producer is gone: nothing more can be answered. What is queued
    // still commits (and is published); a producer that comes back
    // re-sends it with its idempotency key.
    if (!ok) broken_ = true;
  });
}

void PublishStreamReactor::OnDone() {
  Advance([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { on_done_ = true; });
}

void PublishStreamReactor::Advance(absl::FunctionRef<void()> change) {
  bool write = false, read = false, destroy = false;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    change();
    if (on_done_) {
      // gRPC is done with the call; entries still running keep us alive.
      destroy = running_ == 0 && !destroying_;
      destroying_ |= destroy;
    } else if (!finished_) {
      if (broken_) {
        finished_ = true;
        finish = grpc::Status(grpc::StatusCode::CANCELLED,
                              "the producer stopped reading answers");
      } else {
        if (!writing_ && !queue_.empty() && queue_.front()->done) {
          Entry& head = *queue_.front();
          bool own_buffer = false;
          write_buffer_.Clear();  // the last write is complete
          grpc::Status serialized =
              grpc::SerializationTraits<pb::PublishStreamResponse>::Serialize(
                  head.response, &write_buffer_, &own_buffer);
          queued_bytes_ -= head.bytes;
          queue_.pop_front();
          // No buffer hint, even with more answers ready behind this one:
          // gRPC completes a hinted write only once something flushes the
          // transport, which a producer waiting for its answers never does
          // (a 60 s stall; docs/DESIGN.md, "PublishStream").
          if (serialized.ok()) {
            writing_ = write = true;
          } else {
            finished_ = true;
            finish = serialized;
          }
        }
        if (!finish && !reading_ && !reads_done_ &&
            queue_.size() < service_.options_.max_stream_inflight &&
            queued_bytes_ < kMaxInflightBytes) {
          reading_ = read = true;
        }
        if (!finish && reads_done_ && queue_.empty() && !writing_) {
          finished_ = true;
          finish = grpc::Status::OK;
        }
      }
    }
    if (write || read) ++starting_;
    // Finish waits for every StartWrite/StartRead decided before it: once
    // finished, gRPC may end the call (and free it) at any moment.
    if (finish && starting_ > 0) {
      pending_finish_ = *std::move(finish);
      finish.reset();
    }
  }
  if (destroy) {
    delete this;
    return;
  }
  if (write) StartWrite(&write_buffer_);
  if (read) StartRead(&read_buffer_);
  if (write || read) {
    absl::MutexLock lock(&mu_);
    if (--starting_ == 0 && pending_finish_) {
      finish = std::move(pending_finish_);
      pending_finish_.reset();
    }
  }
  if (finish) {
    service_.Count(call_, finish->error_code());
    Finish(*std::move(finish));
  }
}

}  // namespace notifyd::api
