// notifyctl notify|publish --stdin: one notification per input line through
// one PublishStream (api/publish_stream.h), with a progress line on stderr.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tools/notifyctl_common.h"

namespace notifyd::tools {

namespace pb = ::notify::v1;

int StreamLines(const StreamLinesOptions& options, std::istream& in,
                pb::Notifier::Stub& stub,
                std::unique_ptr<grpc::ClientContext> context) {
  // The stream lives as long as the input: no deadline of its own.
  context->set_deadline(std::chrono::system_clock::time_point::max());
  auto stream = stub.PublishStream(context.get());
  uint64_t sent = 0;
  bool write_failed = false;
  std::thread writer([&] {
    std::string line;
    while (std::getline(in, line)) {
      pb::PublishStreamRequest m;
      m.set_ref(absl::StrCat(sent + 1));
      auto fill = [&](auto* request) {
        request->set_data(line);
        request->set_event(options.event);
        if (!options.idempotency_key.empty()) {
          request->set_idempotency_key(
              absl::StrCat(options.idempotency_key, "-", sent + 1));
        }
      };
      if (options.publish) {
        m.mutable_publish()->set_channel(options.target);
        fill(m.mutable_publish());
      } else {
        m.mutable_notify_user()->set_user_id(options.target);
        fill(m.mutable_notify_user());
      }
      if (!stream->Write(m)) {
        write_failed = true;
        break;
      }
      ++sent;
    }
    stream->WritesDone();
  });

  uint64_t answered = 0, failed = 0, duplicates = 0;
  std::string first_error;
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  auto progress = [&](const char* end) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::fprintf(
        stderr,
        "\rnotifyctl: %llu stored, %llu duplicate, %llu failed, "
        "%.0f/s%s",
        static_cast<unsigned long long>(answered - failed - duplicates),
        static_cast<unsigned long long>(duplicates),
        static_cast<unsigned long long>(failed),
        seconds > 0 ? answered / seconds : 0.0, end);
  };
  pb::PublishStreamResponse answer;
  while (stream->Read(&answer)) {
    ++answered;
    if (answer.code() != 0) {
      ++failed;
      if (first_error.empty()) {
        first_error = absl::StrCat("line ", answer.ref(), ": error ",
                                   answer.code(), ": ", answer.message());
      }
    } else if (answer.notify_user().duplicate() ||
               answer.publish().duplicate()) {
      ++duplicates;
    }
    if (options.progress && std::chrono::steady_clock::now() - last_progress >
                                std::chrono::seconds(1)) {
      last_progress = std::chrono::steady_clock::now();
      progress("");
    }
  }
  writer.join();
  grpc::Status status = stream->Finish();
  if (options.progress) progress("\n");
  std::cout << answered - failed - duplicates << " stored, " << duplicates
            << " duplicate(s), " << failed << " failed, of " << sent
            << " line(s)\n";
  if (!status.ok()) return FailRpc(status);
  if (write_failed || answered != sent) {
    return Fail(absl::StrCat("the stream ended after ", answered, " of ", sent,
                             " answers"));
  }
  if (!first_error.empty()) return Fail(first_error);
  return 0;
}

}  // namespace notifyd::tools
