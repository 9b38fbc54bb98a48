// notifyd behind Debian's nginx, configured by docs/nginx-notifyd.conf as
// the README shows it: nginx terminates TLS and HTTP/2 on loopback and
// passes streams through unbuffered; notifyd, told to trust it
// (--trusted_proxies), counts each browser under its own address. Clients
// are curl over HTTP/2 from several 127.0.0.0/8 source addresses.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using ::testing::HasSubstr;

constexpr char kNginx[] = "/usr/sbin/nginx";
constexpr char kCurl[] = "/usr/bin/curl";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A port nobody listens on now (nginx needs one named in its config).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs curl to completion; its stdout and stderr replace `out`.
int Curl(const std::vector<std::string>& args, const fs::path& out) {
  fs::remove(out);
  std::vector<std::string> argv = {kCurl, "-sS", "--max-time", "10"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess curl(argv, out.string());
  std::optional<int> status = curl.Wait(std::chrono::seconds(15));
  return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class NginxProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kNginx))
        << kNginx << " missing: `make test` installs Debian's nginx";
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    notifyd_ = std::make_unique<NotifydBinary>(
        dir_.path(),
        std::vector<std::string>{"--insecure_dev_identity",
                                 "--trusted_proxies=127.0.0.1",
                                 "--max_connections_per_address=1"});
    stub_ = notifyd_->Connect();
    ASSERT_NE(stub_, nullptr);
    std::optional<testing::Ports> ports = notifyd_->WaitForPorts();
    ASSERT_TRUE(ports.has_value());

    // The documented file, with only its placeholders replaced: each must
    // still be there, or the README's file and this test have drifted.
    std::string site =
        ReadFile(fs::path(NOTIFYD_SOURCE_DIR) / "docs" / "nginx-notifyd.conf");
    port_ = FreePort();
    const std::vector<std::pair<std::string, std::string>> replace = {
        {"server 127.0.0.1:8080;",
         absl::StrCat("server 127.0.0.1:", ports->http, ";")},
        {"listen 443 ssl http2;",
         absl::StrCat("listen 127.0.0.1:", port_, " ssl http2;")},
        {"/etc/ssl/notifyd/fullchain.pem", ca_.server_cert()},
        {"/etc/ssl/notifyd/privkey.pem", ca_.server_key()}};
    for (const auto& [from, to] : replace) {
      ASSERT_THAT(site, HasSubstr(from)) << "docs/nginx-notifyd.conf";
      absl::StrReplaceAll({{from, to}}, &site);
    }
    const fs::path dir = dir_.path();
    std::ofstream(dir / "notifyd.conf") << site;
    // A private nginx: one process, everything under the test directory.
    std::ofstream(dir / "nginx.conf") << absl::StrCat(
        "daemon off;\nmaster_process off;\npid ", (dir / "nginx.pid").string(),
        ";\nerror_log ", (dir / "nginx-error.log").string(),
        " info;\nevents { worker_connections 256; }\nhttp {\n  access_log ",
        (dir / "nginx-access.log").string(), ";\n  client_body_temp_path ",
        dir.string(), "/body;\n  proxy_temp_path ", dir.string(),
        "/proxy;\n  include ", (dir / "notifyd.conf").string(), ";\n}\n");
    nginx_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kNginx, "-p", dir.string(), "-e",
                                 (dir / "nginx-error.log").string(), "-c",
                                 (dir / "nginx.conf").string()},
        (dir / "nginx.log").string(),
        testing::ChildOptions{.run_as = {},
                              .parent_death_signal = SIGKILL,
                              .fd_limit = 0,
                              .env = {}});
    for (int i = 0; i < 100; ++i) {
      if (Get("/healthz", "127.0.0.1") == "200 2") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "nginx did not serve /healthz over HTTP/2: "
           << ReadFile(dir / "curl-get.out") << nginx_->Log()
           << ReadFile(dir / "nginx-error.log");
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("https://127.0.0.1:", port_, path);
  }

  // "<status> <HTTP version>" of one GET from source address `from`.
  std::string Get(const std::string& path, const std::string& from) {
    const fs::path out = dir_.path() / "curl-get.out";
    Curl({"--http2", "--cacert", ca_.ca_cert(), "--interface", from, "-o",
          "/dev/null", "-w", "%{http_code} %{http_version}", Url(path)},
         out);
    return ReadFile(out);
  }

  // A stream through nginx from source address `from`, written to `out`
  // as it arrives (curl -N), until the test ends.
  std::unique_ptr<ChildProcess> OpenStream(const std::string& user,
                                           const std::string& from,
                                           const fs::path& out) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{kCurl, "-sS", "-N", "--http2", "--cacert",
                                 ca_.ca_cert(), "--interface", from, "-D", "-",
                                 Url("/v1/stream?user=" + user)},
        out.string(),
        testing::ChildOptions{.run_as = {},
                              .parent_death_signal = SIGKILL,
                              .fd_limit = 0,
                              .env = {}});
  }

  // Waits up to 5 s for `text` in `path`.
  static bool WaitFor(const fs::path& path, const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (ReadFile(path).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  testing::TempDir dir_;
  testing::TestCa ca_;
  std::unique_ptr<NotifydBinary> notifyd_;
  std::unique_ptr<pb::Notifier::Stub> stub_;
  std::unique_ptr<ChildProcess> nginx_;
  int port_ = 0;
};

TEST(NginxConfigTest, TheReadmeShowsTheTestedFileAsItIs) {
  const std::string site =
      ReadFile(fs::path(NOTIFYD_SOURCE_DIR) / "docs" / "nginx-notifyd.conf");
  ASSERT_THAT(site, HasSubstr("proxy_buffering off;"));
  EXPECT_THAT(ReadFile(fs::path(NOTIFYD_SOURCE_DIR) / "README.md"),
              HasSubstr("```nginx\n" + site + "```\n"));
}

TEST_F(NginxProxyTest, StreamsPassThroughUnbufferedOverHttp2) {
  const fs::path out = dir_.path() / "stream.out";
  std::unique_ptr<ChildProcess> stream = OpenStream("alice", "127.0.0.2", out);
  ASSERT_TRUE(WaitFor(out, "retry:")) << ReadFile(out);
  const std::string head = ReadFile(out);
  EXPECT_THAT(head, HasSubstr("HTTP/2 200"));
  EXPECT_THAT(head, HasSubstr("content-type: text/event-stream"));
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, 1));
  // Each notification reaches the open stream while it stays open: nginx
  // holds nothing back.
  for (int i = 1; i <= 3; ++i) {
    const std::string data = absl::StrCat("{\"n\":", i, "}");
    ASSERT_TRUE(testing::NotifyUser(*stub_, "alice", data).ok());
    EXPECT_TRUE(WaitFor(out, "data: " + data)) << ReadFile(out);
  }
  // The page and the inbox API answer through the same proxy (from other
  // addresses: the stream holds 127.0.0.2's one place).
  EXPECT_EQ(Get("/", "127.0.0.3"), "200 2");
  EXPECT_EQ(Get("/v1/inbox/counts?user=alice", "127.0.0.4"), "200 2");
}

TEST_F(NginxProxyTest, NotifydLimitsEachBrowserNotTheProxy) {
  // --max_connections_per_address=1: one stream from 127.0.0.2 holds its
  // address's only place, while every connection comes from nginx.
  const fs::path out = dir_.path() / "stream.out";
  std::unique_ptr<ChildProcess> stream = OpenStream("alice", "127.0.0.2", out);
  ASSERT_TRUE(WaitFor(out, "retry:")) << ReadFile(out);
  EXPECT_EQ(Get("/healthz", "127.0.0.2"), "429 2");
  EXPECT_EQ(Get("/healthz", "127.0.0.3"), "200 2");
  EXPECT_EQ(Get("/healthz", "127.0.0.4"), "200 2");
  stream.reset();  // curl killed: its place comes back
  bool freed = false;
  for (int i = 0; i < 100 && !freed; ++i) {
    freed = Get("/healthz", "127.0.0.2") == "200 2";
    if (!freed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(freed);
}

}  // namespace
}  // namespace notifyd
