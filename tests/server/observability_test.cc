// notifyd as an operator watches it (docs/DESIGN.md, Logs and traces):
// /metrics on the admin listener names the running build and describes the
// process (values that follow what the process does), and with
// --log_format=json every line of a real run is one JSON object, the trace
// id of a request's traceparent on the lines of the work it caused. The
// real binary on loopback.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/build_info.h"
#include "tests/edge/sse_client.h"
#include "tests/server/json_log.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using edge::testing::HttpGet;
using edge::testing::HttpWithBody;
using edge::testing::SseClient;
using std::chrono::seconds;
using testing::FindLine;
using ::testing::HasSubstr;
using testing::SeriesValue;

constexpr char kPublishTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kPublishTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kStreamTraceparent[] =
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
constexpr char kStreamTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kHttpPublishTraceparent[] =
    "00-9f1e2d3c4b5a69788796a5b4c3d2e1f0-0102030405060708-01";
constexpr char kHttpPublishTraceId[] = "9f1e2d3c4b5a69788796a5b4c3d2e1f0";
constexpr char kStateTraceparent[] =
    "00-7d8e1f2a3b4c5d6e7f8091a2b3c4d5e6-1122334455667788-01";
constexpr char kStateTraceId[] = "7d8e1f2a3b4c5d6e7f8091a2b3c4d5e6";
// Uppercase hex: malformed, so ignored, and never written to the log.
constexpr char kMalformedTraceparent[] =
    "00-DEADBEEFDEADBEEFDEADBEEFDEADBEEF-00f067aa0ba902b7-01";

std::string Scrape(uint16_t admin_port) {
  edge::testing::HttpResponse r = HttpGet(admin_port, "/metrics");
  EXPECT_EQ(r.status, 200);
  return r.body;
}

// `count` TCP connections to 127.0.0.1:`port`, left open.
std::vector<int> OpenConnections(uint16_t port, int count) {
  std::vector<int> fds;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    fds.push_back(fd);
  }
  return fds;
}

// Scrapes until `ok` holds for process_open_fds (true) or 10 s pass.
bool OpenFdsBecome(uint16_t admin_port, const std::function<bool(double)>& ok) {
  for (int i = 0; i < 200; ++i) {
    if (ok(SeriesValue(Scrape(admin_port), "process_open_fds"))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(AdminMetricsTest, BuildInfoAndProcessMetricsDescribeTheRunningProcess) {
  testing::TempDir dir;
  const double launched = static_cast<double>(absl::ToUnixSeconds(absl::Now()));
  NotifydBinary notifyd(dir.path());
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  const uint16_t admin = static_cast<uint16_t>(ports->admin);
  const std::string first = Scrape(admin);
  const double ready = static_cast<double>(absl::ToUnixSeconds(absl::Now()));

  EXPECT_THAT(first, HasSubstr(absl::StrCat("notifyd_build_info{version=\"",
                                            kBuildVersion, "\",commit=\"",
                                            kBuildCommit, "\"} 1\n")));
  // The child's own limit, as the kernel has it now (notifyd raises its
  // soft limit at start).
  rlimit limit{};
  ASSERT_EQ(prlimit(notifyd.process().pid(), RLIMIT_NOFILE, nullptr, &limit),
            0);
  EXPECT_EQ(SeriesValue(first, "process_max_fds"),
            static_cast<double>(limit.rlim_cur));
  EXPECT_GT(SeriesValue(first, "process_resident_memory_bytes"), 1 << 20);
  // Boot time has a resolution of one second.
  const double started = SeriesValue(first, "process_start_time_seconds");
  EXPECT_GE(started, launched - 2);
  EXPECT_LE(started, ready + 2);
  const double cpu = SeriesValue(first, "process_cpu_seconds_total");
  EXPECT_GE(cpu, 0);

  // Descriptors follow the connections the test opens and closes.
  const double before = SeriesValue(first, "process_open_fds");
  ASSERT_GT(before, 0);
  std::vector<int> held =
      OpenConnections(static_cast<uint16_t>(ports->http), 40);
  EXPECT_TRUE(OpenFdsBecome(admin, [&](double fds) {
    return fds >= before + 40;
  })) << Scrape(admin);
  for (int fd : held) close(fd);
  EXPECT_TRUE(OpenFdsBecome(admin, [&](double fds) {
    return fds < before + 40;
  })) << Scrape(admin);
  EXPECT_GE(SeriesValue(Scrape(admin), "process_cpu_seconds_total"), cpu);
}

TEST(AdminMetricsTest, VersionFlagNamesTheBuild) {
  testing::TempDir dir;
  testing::ChildProcess version({NOTIFYD_BINARY, "--version"},
                                (dir.path() / "version.log").string());
  std::optional<int> status = version.Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_THAT(version.Log(),
              HasSubstr(absl::StrCat("notifyd ", kBuildVersion, " (commit ",
                                     kBuildCommit, ")")));
}

// A NotifyUser of invalid UTF-8, which makes the server's protobuf log a
// line of its own.
void SendInvalidUtf8(uint16_t grpc_port) {
  grpc::GenericStub stub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                          grpc::InsecureChannelCredentials()));
  grpc::Slice slice(testing::InvalidUtf8NotifyUserRequest());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  stub.UnaryCall(&context, "/notify.v1.Notifier/NotifyUser",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   EXPECT_FALSE(status.ok());
                   std::lock_guard<std::mutex> lock(mu);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
}

// A string field of a log line; "" when absent or not a string.
std::string Str(const boost::json::object& line, const char* key) {
  const boost::json::value* v = line.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

// An integer field of a log line; 0 when absent or not an integer.
uint64_t Uint(const boost::json::object& line, const char* key) {
  const boost::json::value* v = line.if_contains(key);
  if (v == nullptr) return 0;
  if (const uint64_t* u = v->if_uint64()) return *u;
  if (const int64_t* i = v->if_int64()) return static_cast<uint64_t>(*i);
  return 0;
}

// A run that publishes (traced and not), streams, changes state, sends bad
// requests and shuts down: every line it logs is JSON, and the work each
// traceparent caused carries its trace id.
TEST(JsonLogTest, EveryLineOfARealRunIsJsonAndTracedWorkCarriesItsTraceId) {
  testing::TempDir dir;
  NotifydBinary notifyd(dir.path(), {"--log_format=json", "--log_level=debug",
                                     "--insecure_dev_identity"});
  auto stub = notifyd.Connect();
  ASSERT_NE(stub, nullptr);
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  const uint16_t http = static_cast<uint16_t>(ports->http);

  auto stream = std::make_unique<SseClient>();
  ASSERT_EQ(stream->Open(http, "/v1/stream?user=ada",
                         {absl::StrCat("traceparent: ", kStreamTraceparent)}),
            200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub, 1));
  pb::NotifyUserResponse traced;
  ASSERT_TRUE(testing::NotifyUser(*stub, "ada", "traced", &traced, "", "",
                                  kPublishTraceparent)
                  .ok());
  std::optional<edge::testing::SseMessage> event = stream->NextEvent();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->id, std::to_string(traced.notification().id()));
  pb::NotifyUserResponse untraced;
  ASSERT_TRUE(testing::NotifyUser(*stub, "ada", "untraced", &untraced, "", "",
                                  kMalformedTraceparent)
                  .ok());
  EXPECT_EQ(HttpWithBody(http, "POST", "/v1/inbox/state?user=ada",
                         {"Content-Type: application/json",
                          absl::StrCat("traceparent: ", kStateTraceparent)},
                         absl::StrCat(R"({"ids":[)", traced.notification().id(),
                                      R"(],"read":true})"))
                .status,
            200);
  // A publish over HTTP (admin listener), traced the same way.
  edge::testing::HttpResponse http_published = HttpWithBody(
      static_cast<uint16_t>(ports->admin), "POST", "/v1/notify/ada",
      {absl::StrCat("traceparent: ", kHttpPublishTraceparent)}, "over http");
  EXPECT_EQ(http_published.status, 200) << http_published.body;
  // Bad requests: a user id the API refuses, and bytes protobuf complains
  // about in a line of its own.
  EXPECT_EQ(testing::NotifyUser(*stub, "not a user id", "x").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  SendInvalidUtf8(static_cast<uint16_t>(ports->grpc));
  stream.reset();
  for (int i = 0; i < 100 && !absl::StrContains(notifyd.process().Log(),
                                                "edge: stream closed");
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  notifyd.process().Signal(SIGTERM);
  std::optional<int> status = notifyd.process().Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  const std::string log = notifyd.process().Log();
  SCOPED_TRACE(log);
  const std::vector<boost::json::object> lines = testing::ParseJsonLog(log);
  EXPECT_GT(lines.size(), 10u);

  auto serving = FindLine(lines, "notifyd serving", {{"bus", "local"}});
  ASSERT_TRUE(serving.has_value());
  EXPECT_EQ(Uint(*serving, "grpc_port"), static_cast<uint64_t>(ports->grpc));
  EXPECT_EQ(Str(*serving, "version"), kBuildVersion);

  // The traced publish: stored, then delivered to the one stream.
  auto stored = FindLine(lines, "stored",
                         {{"trace_id", kPublishTraceId},
                          {"channel", "user:ada"},
                          {"caller", "anonymous"}});
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(Uint(*stored, "id"), traced.notification().id());
  EXPECT_EQ(Uint(*stored, "live_recipients"), 1u);
  EXPECT_TRUE(
      FindLine(lines, "stored",
               {{"trace_id", kHttpPublishTraceId}, {"channel", "user:ada"}})
          .has_value());
  EXPECT_TRUE(FindLine(lines, "delivered", {{"trace_id", kHttpPublishTraceId}})
                  .has_value());
  auto delivered =
      FindLine(lines, "delivered", {{"trace_id", kPublishTraceId}});
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(Uint(*delivered, "id"), traced.notification().id());
  EXPECT_EQ(Uint(*delivered, "streams"), 1u);
  // The malformed traceparent: served, logged without a trace id, and its
  // value nowhere in the log.
  bool untraced_found = false;
  for (const boost::json::object& line : lines) {
    if (Str(line, "msg") == "stored" &&
        Uint(line, "id") == untraced.notification().id()) {
      untraced_found = true;
      EXPECT_FALSE(line.contains("trace_id"));
    }
  }
  EXPECT_TRUE(untraced_found);
  EXPECT_THAT(log, ::testing::Not(HasSubstr("DEADBEEF")));

  // The stream, opened and closed with its own request's trace id.
  auto opened = FindLine(lines, "edge: stream opened",
                         {{"user", "ada"}, {"trace_id", kStreamTraceId}});
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(absl::StartsWith(Str(*opened, "peer"), "127.0.0.1:"));
  EXPECT_TRUE(FindLine(lines, "edge: stream closed",
                       {{"user", "ada"}, {"trace_id", kStreamTraceId}})
                  .has_value());
  // The state change over HTTP, with its record.
  auto changed =
      FindLine(lines, "inbox: state changed",
               {{"channel", "user:ada"}, {"trace_id", kStateTraceId}});
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(Uint(*changed, "changed"), 1u);
  EXPECT_TRUE(
      FindLine(lines, "delivered", {{"trace_id", kStateTraceId}}).has_value());

  // The bad requests.
  auto failed = FindLine(lines, "call failed",
                         {{"method", "NotifyUser"},
                          {"code", "INVALID_ARGUMENT"},
                          {"level", "debug"}});
  ASSERT_TRUE(failed.has_value());
  EXPECT_THAT(Str(*failed, "error"), HasSubstr("user_id"));
  bool library_line = false;
  for (const boost::json::object& line : lines) {
    const boost::json::value* library = line.if_contains("library");
    library_line =
        library_line || (library != nullptr && library->is_string() &&
                         library->get_string() == "protobuf");
  }
  EXPECT_TRUE(library_line);

  EXPECT_TRUE(
      FindLine(lines, "shutting down", {{"signal", "SIGTERM"}}).has_value());
  EXPECT_TRUE(FindLine(lines, "notifyd stopped; store closed").has_value());
}

}  // namespace
}  // namespace notifyd
