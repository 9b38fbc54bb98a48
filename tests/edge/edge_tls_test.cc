// EdgeServer end to end over TLS, and how Start() fails: a self-signed
// certificate made with the openssl CLI (edge_server_test.h).
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "edge/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::EdgeServerTest;
using ::notifyd::edge::testing::RawExchange;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::edge::testing::SseMessage;
using ::testing::HasSubstr;

// A self-signed certificate for 127.0.0.1, made with the openssl CLI in a
// fresh temporary directory.
class TlsFiles {
 public:
  TlsFiles() {
    std::string tmpl = ::testing::TempDir() + "edge_tls_XXXXXX";
    dir_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    cert = dir_ + "/cert.pem";
    key = dir_ + "/key.pem";
    std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
        " -keyout ",
        key, " -out ", cert, " >/dev/null 2>&1");
    ok = !dir_.empty() && std::system(cmd.c_str()) == 0;
  }
  ~TlsFiles() {
    if (!dir_.empty()) {
      std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
    }
  }
  bool ok = false;
  std::string cert, key;

 private:
  std::string dir_;
};

TEST_F(EdgeServerTest, ServesStreamsOverTls) {
  TlsFiles files;
  ASSERT_TRUE(files.ok) << "openssl req failed";
  options_.tls_cert_file = files.cert;
  options_.tls_key_file = files.key;
  Start();
  SseClient c(files.cert);
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice&channels=news"), 200)
      << c.tls_error();
  EXPECT_EQ(c.response().headers.at("content-type"), "text/event-stream");
  WaitForConnections(1);
  Notify("user:bob", "not for alice");
  uint64_t id = Notify("news", "over tls\nsecond line", "breaking");
  std::optional<SseMessage> m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id));
  EXPECT_EQ(m->event, "breaking");
  EXPECT_EQ(m->data, "over tls\nsecond line");

  // Plain HTTP to the TLS port gets no HTTP response.
  std::string plain =
      RawExchange(port_, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                  std::chrono::milliseconds(2000));
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("HTTP/1.1")));
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("ok")));

  // A client that does not trust the certificate fails the handshake.
  SseClient untrusting("/dev/null");
  EXPECT_EQ(untrusting.Open(port_, "/v1/stream?user=alice"), 0);
  EXPECT_FALSE(untrusting.tls_error().empty());
  // The stream is unaffected by both.
  uint64_t again = Notify("user:alice", "still here");
  EXPECT_EQ(ReadIdsThrough(c, again), (std::vector<uint64_t>{again}));
}

TEST_F(EdgeServerTest, TlsHandshakeIsBoundedByIdleTimeout) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  options_.tls_cert_file = files.cert;
  options_.tls_key_file = files.key;
  options_.idle_timeout = absl::Milliseconds(300);
  Start();
  // A TLS record header that never completes: closed without a word (the
  // wait is far longer than idle_timeout, for a loaded machine).
  bool closed = false;
  std::string out = RawExchange(port_, std::string("\x16\x03\x01", 3),
                                std::chrono::milliseconds(20000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(out, "");
  SseClient c(files.cert);
  EXPECT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200) << c.tls_error();
}

TEST_F(EdgeServerTest, TlsStartFailsNamingTheFile) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  EdgeOptions o = options_;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = files.key;
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("/nonexistent/cert.pem"));
  o.tls_cert_file = files.cert;
  o.tls_key_file = "/nonexistent/key.pem";
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("/nonexistent/key.pem"));
  o.tls_key_file = files.cert;  // a certificate is not a key
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr(files.cert));
  o.tls_key_file = "";
  EXPECT_THAT(EdgeServer(o, store_, hub_, metrics_).Start().message(),
              HasSubstr("tls_key_file"));
}

TEST_F(EdgeServerTest, StartFailsNamingTheAddress) {
  Start();
  EdgeOptions taken = options_;
  taken.listen = absl::StrCat("127.0.0.1:", port_);
  EdgeServer second(taken, store_, hub_, metrics_);
  absl::Status s = second.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(taken.listen));
  EdgeServer bad(
      [] {
        EdgeOptions o;
        o.listen = "nonsense";
        return o;
      }(),
      store_, hub_, metrics_);
  EXPECT_THAT(bad.Start().message(), HasSubstr("nonsense"));
}

}  // namespace
}  // namespace notifyd::edge
