// Log lines from libprotobuf and gRPC core go through spdlog, rate-limited:
// a client that makes a library complain on every request cannot flood
// notifyd's log.
#include "server/library_logs.h"

#include <gmock/gmock.h>
#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Non-empty lines of `log` that contain `needle`.
int CountLines(const std::string& log, absl::string_view needle = "") {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, needle)) ++n;
  }
  return n;
}

// The default spdlog logger of this test process, writing "level message"
// lines into a string.
class CapturedSpdlog {
 public:
  CapturedSpdlog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("captured", sink);
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  std::string Text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

TEST(LibraryLogsTest, LibraryLinesGoThroughSpdlogAtMostABurstPerInterval) {
  CapturedSpdlog captured;
  server::RouteLibraryLogsToSpdlog();
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  for (int i = 0; i < 200; ++i) {
    GOOGLE_LOG(ERROR) << "protobuf flood";
    gpr_log(GPR_ERROR, "grpc flood");
    // Below gRPC's verbosity: never produced, never counted.
    gpr_log(GPR_INFO, "grpc chatter");
  }
  std::string text = captured.Text();
  // A burst passes (twice at most, should the interval end mid-loop).
  EXPECT_GE(CountLines(text, "protobuf flood"), server::kLibraryLogBurst);
  EXPECT_LE(CountLines(text, "protobuf flood"), 2 * server::kLibraryLogBurst);
  EXPECT_GE(CountLines(text, "grpc flood"), server::kLibraryLogBurst);
  EXPECT_LE(CountLines(text, "grpc flood"), 2 * server::kLibraryLogBurst);
  EXPECT_EQ(CountLines(text, "grpc chatter"), 0);
  EXPECT_THAT(text, AllOf(HasSubstr("error protobuf flood library=protobuf "
                                    "source="),
                          HasSubstr("error grpc flood library=grpc source=")));

  // After the interval, the next line says how many were dropped.
  absl::SleepFor(server::kLibraryLogInterval + absl::Milliseconds(100));
  GOOGLE_LOG(WARNING) << "protobuf after";
  gpr_log(GPR_ERROR, "grpc after");
  text = captured.Text();
  EXPECT_EQ(CountLines(text, "protobuf after"), 1);
  EXPECT_EQ(CountLines(text, " dropped="), 2) << text;
  EXPECT_THAT(text, HasSubstr("warning protobuf after library=protobuf"));
}

// Sends `count` such requests, `window` at a time; returns how many failed.
int SendInvalidUtf8Requests(grpc::GenericStub& stub, int count, int window) {
  const std::string bytes = testing::InvalidUtf8NotifyUserRequest();
  std::atomic<int> failed{0};
  for (int sent = 0; sent < count; sent += window) {
    const int batch = std::min(window, count - sent);
    absl::BlockingCounter done(batch);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<grpc::ByteBuffer> responses(batch);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    for (int i = 0; i < batch; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->set_deadline(std::chrono::system_clock::now() +
                                    std::chrono::seconds(30));
      stub.UnaryCall(contexts.back().get(), "/notify.v1.Notifier/NotifyUser",
                     grpc::StubOptions(), &request, &responses[i],
                     [&](grpc::Status status) {
                       if (!status.ok()) ++failed;
                       done.DecrementCount();
                     });
    }
    done.Wait();
  }
  return failed.load();
}

TEST(LibraryLogsTest, AFloodOfInvalidUtf8RequestsLeavesABoundedLog) {
  testing::TempDir dir;
  NotifydBinary notifyd(dir.path());
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  grpc::GenericStub stub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(ports->grpc),
                          grpc::InsecureChannelCredentials()));

  constexpr int kRequests = 2000;
  const absl::Time start = absl::Now();
  EXPECT_EQ(SendInvalidUtf8Requests(stub, kRequests, 100), kRequests);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // One more after the interval: its line reports the dropped ones.
  absl::SleepFor(server::kLibraryLogInterval + absl::Milliseconds(200));
  EXPECT_EQ(SendInvalidUtf8Requests(stub, 1, 1), 1);

  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = notifyd.process().Log();
    if (absl::StrContains(log, " dropped=")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const int utf8_lines = CountLines(log, "invalid UTF-8");
  // A burst per started interval of the flood, plus the last request.
  const int allowed =
      server::kLibraryLogBurst * (static_cast<int>(std::ceil(seconds)) + 1) + 1;
  SCOPED_TRACE(::testing::Message()
               << kRequests << " requests in " << seconds << " s; log:\n"
               << log);
  EXPECT_GE(utf8_lines, 1);  // the lines come from protobuf, through spdlog
  EXPECT_LE(utf8_lines, allowed);
  EXPECT_THAT(log, HasSubstr("String field"));
  EXPECT_THAT(log, HasSubstr("library=protobuf"));
  EXPECT_THAT(log, HasSubstr(" dropped="));
  // Everything else notifyd said (start-up, mostly) is short too.
  EXPECT_LE(CountLines(log), allowed + 20);
}

}  // namespace
}  // namespace notifyd
