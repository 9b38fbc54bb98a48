// The real edge against hostile and malformed HTTP: every row must get the
// expected 4xx (never a 2xx, a crash or a hang), and afterwards the server
// must still serve a normal stream without leaking another user's events.
// Also SSE injection: no payload can forge a second event or another id.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "edge/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_fixture.h"
#include "tests/edge/fake_store.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::FakeStore;
using ::notifyd::edge::testing::RawExchange;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::edge::testing::SseMessage;
using ::testing::HasSubstr;
using std::string_literals::operator""s;

struct Row {
  const char* name;
  std::string request;  // raw bytes sent on a fresh connection
  int status;           // expected status of the (first) response
};

std::string Get(const std::string& target,
                const std::vector<std::string>& headers = {}) {
  std::string req = absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\n");
  for (const std::string& h : headers) absl::StrAppend(&req, h, "\r\n");
  return req + "Connection: close\r\n\r\n";
}

std::string Method(const std::string& method, const std::string& target) {
  return absl::StrCat(method, " ", target,
                      " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

// The status of the first response in `raw`, 0 when there is none.
int StatusOf(const std::string& raw) {
  int status = 0;
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  if (!absl::SimpleAtoi(raw.substr(9, 3), &status)) return 0;
  return status;
}

std::vector<Row> HostileRows() {
  const std::string stream = "/v1/stream?user=alice";
  std::vector<Row> rows = {
      // Request line.
      {"garbage request line", "GARBAGE\r\n\r\n", 400},
      {"method only", "GET\r\n\r\n", 400},
      {"extra token after version",
       "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400},
      {"lowercase version", "GET /healthz http/1.1\r\nHost: x\r\n\r\n", 400},
      {"HTTP/0.9 simple request", "GET /\r\n\r\n", 400},
      {"HTTP/2 prior-knowledge preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
       400},
      {"absolute-form target",
       "GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"asterisk target", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"NUL in target", "GET /healthz\0x HTTP/1.1\r\nHost: x\r\n\r\n"s, 400},
      {"space in target", "GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"bare LF line endings", "GET /healthz HTTP/1.1\nHost: x\n\n", 400},
      // Header fields.
      {"header without colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400},
      {"space before colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"NUL in header value", "GET /healthz HTTP/1.1\r\nX-A: a\0b\r\n\r\n"s,
       400},
      // (Obsolete line folding is not here: RFC 9112 lets a server unfold it,
      // and Beast does.)
      {"huge header value",
       Get("/healthz", {"X-Big: " + std::string(20000, 'a')}), 431},
      {"many headers",
       [] {
         std::vector<std::string> h;
         for (int i = 0; i < 2000; ++i)
           h.push_back(absl::StrCat("X-", i, ": v"));
         return Get("/healthz", h);
       }(),
       431},
      {"huge request target", Get("/healthz?" + std::string(20000, 'q')), 431},
      {"body on GET",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
       413},
      // Any Transfer-Encoding is 400, a chunked body included (see
      // CheckRequestHeader); a Content-Length body alone is 413.
      {"chunked body on GET",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n",
       400},
      {"Transfer-Encoding: identity",
       Get("/healthz", {"Transfer-Encoding: identity"}), 400},
      {"Transfer-Encoding: gzip", Get("/healthz", {"Transfer-Encoding: gzip"}),
       400},
      {"chunked not the final coding",
       Get("/healthz", {"Transfer-Encoding: chunked, identity"}), 400},
      {"identity coding, then a Content-Length body",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
       "Content-Length: 5\r\n\r\nhello",
       400},
      {"Transfer-Encoding on HTTP/1.0",
       "GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400},
      // Host (RFC 9112 §3.2).
      {"HTTP/1.1 without Host",
       "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400},
      {"two Host fields", Get("/healthz", {"Host: y"}), 400},
      {"Host with userinfo",
       "GET /healthz HTTP/1.1\r\nHost: evil@x\r\nConnection: close\r\n\r\n",
       400},
      {"Host with a path",
       "GET /healthz HTTP/1.1\r\nHost: x/y\r\nConnection: close\r\n\r\n", 400},
      // Fields that decide who reads what, given twice (cf. the duplicate
      // query parameters below).
      {"duplicate Authorization",
       Get(stream, {"Authorization: Bearer a", "Authorization: Bearer b"}),
       400},
      {"duplicate Last-Event-ID",
       Get(stream, {"Last-Event-ID: 1", "last-event-id: 2"}), 400},
      {"duplicate Cookie", Get(stream, {"Cookie: a=1", "Cookie: b=2"}), 400},
      {"conflicting lengths",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
       "Content-Length: 5\r\n\r\n",
       400},
      {"negative content length",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
      // Query parameters of /v1/stream.
      {"bad percent-encoding", Get(stream + "&channels=%zz"), 400},
      {"truncated percent-encoding", Get(stream + "&channels=a%4"), 400},
      {"percent-encoded NUL in user", Get("/v1/stream?user=alice%00"), 400},
      {"percent-encoded CRLF in channel", Get(stream + "&channels=a%0D%0Ab"),
       400},
      {"duplicate channels", Get(stream + "&channels=a&channels=b"), 400},
      {"duplicate last_event_id",
       Get(stream + "&last_event_id=1&last_event_id=2"), 400},
      {"duplicate user", Get("/v1/stream?user=alice&user=bob"), 400},
      {"duplicate user by encoding", Get("/v1/stream?user=bob&%75ser=alice"),
       400},
      {"oversized channel name",
       Get(stream + "&channels=" + std::string(300, 'c')), 400},
      {"oversized user", Get("/v1/stream?user=" + std::string(3000, 'u')), 400},
      {"too many channels",
       Get(stream + "&channels=" +
           [] {
             std::string csv;
             for (int i = 0; i < 100; ++i) absl::StrAppend(&csv, "c", i, ",");
             return csv;
           }()),
       400},
      {"another user's channel", Get(stream + "&channels=user:bob"), 403},
      {"another user's channel, encoded", Get(stream + "&channels=user%3Abob"),
       403},
      // Last-Event-ID, as a header and as a parameter.
      {"non-numeric Last-Event-ID", Get(stream, {"Last-Event-ID: abc"}), 400},
      {"negative Last-Event-ID", Get(stream, {"Last-Event-ID: -1"}), 400},
      {"leading-plus Last-Event-ID", Get(stream, {"Last-Event-ID: +5"}), 400},
      {"hex Last-Event-ID", Get(stream, {"Last-Event-ID: 0x10"}), 400},
      {"Last-Event-ID over uint64",
       Get(stream, {"Last-Event-ID: 18446744073709551616"}), 400},
      {"enormous Last-Event-ID",
       Get(stream, {"Last-Event-ID: " + std::string(500, '9')}), 400},
      {"Last-Event-ID with inner space", Get(stream, {"Last-Event-ID: 5 6"}),
       400},
      {"negative last_event_id", Get(stream + "&last_event_id=-3"), 400},
      {"leading-plus last_event_id (encoded)",
       Get(stream + "&last_event_id=%2B3"), 400},
      {"fractional last_event_id", Get(stream + "&last_event_id=1.5"), 400},
      // Paths and methods.
      {"unknown path", Get("/nope"), 404},
      {"stream path with suffix", Get("/v1/stream/x?user=alice"), 404},
      {"PUT", Method("PUT", stream), 405},
      {"DELETE", Method("DELETE", stream), 405},
      {"TRACE", Method("TRACE", "/healthz"), 405},
      {"HEAD on the stream", Method("HEAD", stream), 405},
      {"CONNECT authority-form", Method("CONNECT", "evil.example:443"), 400},
      {"CONNECT origin-form", Method("CONNECT", "/v1/stream"), 405},
      {"unknown method", Method("BREW", "/healthz"), 405},
      // Path traversal towards the page's static files.
      {"dot-dot", Get("/../etc/passwd"), 404},
      {"encoded dot-dot", Get("/%2e%2e/etc/passwd"), 404},
      {"encoded slash", Get("/..%2f..%2fetc/passwd"), 404},
      {"double slash", Get("//etc/passwd"), 404},
      {"web dir escape", Get("/web/../../etc/passwd"), 404},
      {"dot-dot to a real file name", Get("/x/../index.html"), 404},
      {"backslashes", Get("/..\\..\\etc\\passwd"), 400},
      {"encoded NUL after a page file", Get("/inbox.js%00.png"), 404},
  };
  return rows;
}

class HostileHttpTest : public ::notifyd::edge::testing::EdgeServerFixture {
 protected:
  HostileHttpTest() {
    options_.insecure_dev_identity = true;
    options_.max_channels_per_stream = 8;
    options_.idle_timeout = absl::Seconds(2);
  }
};

TEST_F(HostileHttpTest, EveryRowIsRefusedAndTheServerStaysHealthy) {
  Start();
  // Bob's stream is open throughout: nothing a hostile row does may reach
  // it or let anyone else read it.
  SseClient bob;
  ASSERT_EQ(bob.Open(port_, "/v1/stream?user=bob"), 200);
  WaitForConnections(1);

  for (const Row& row : HostileRows()) {
    bool closed = false;
    std::string raw = RawExchange(port_, row.request,
                                  std::chrono::milliseconds(5000), &closed);
    int status = StatusOf(raw);
    EXPECT_EQ(status, row.status)
        << row.name << "\n  response: " << raw.substr(0, 200);
    EXPECT_THAT(raw, ::testing::Not(HasSubstr("text/event-stream")))
        << row.name;
    // Every hostile row ends its connection: none may leave a stream open.
    EXPECT_TRUE(closed) << row.name;
    EXPECT_EQ(hub_.Connections(), 1u) << row.name;
  }

  // Still serving: a normal stream for alice gets her events and none of
  // bob's, and bob's stream got only his.
  SseClient alice;
  ASSERT_EQ(alice.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(2);
  uint64_t for_bob = Notify("user:bob", "secret for bob");
  uint64_t for_alice = Notify("user:alice", "hello alice");
  std::optional<SseMessage> a = alice.NextEvent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, std::to_string(for_alice));
  EXPECT_EQ(a->data, "hello alice");
  std::optional<SseMessage> b = bob.NextEvent();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, std::to_string(for_bob));
  EXPECT_EQ(b->data, "secret for bob");
  EXPECT_FALSE(bob.NextEvent(std::chrono::milliseconds(200)));
  EXPECT_FALSE(alice.NextEvent(std::chrono::milliseconds(200)));
  EXPECT_EQ(testing::HttpGet(port_, "/healthz").status, 200);
}

// A pipelined second request after a refused one is never served: the
// connection is closed after the error.
TEST_F(HostileHttpTest, NothingIsServedAfterAMalformedRequest) {
  Start();
  std::string raw = RawExchange(
      port_, "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n" + Get("/healthz"));
  EXPECT_EQ(StatusOf(raw), 400);
  EXPECT_THAT(raw, ::testing::Not(HasSubstr("200 OK")));
}

// How many responses `raw` holds (status lines at the start or after a
// body; the bodies here never contain one).
int ResponsesIn(const std::string& raw) {
  int n = 0;
  for (size_t at = raw.find("HTTP/1."); at != std::string::npos;
       at = raw.find("HTTP/1.", at + 1)) {
    ++n;
  }
  return n;
}

// The body of a request framed with a Transfer-Encoding the edge would not
// read as a body is never read as a second request either: the first is
// refused and the connection closed, whatever the coding.
TEST_F(HostileHttpTest, TransferEncodingIsRefusedAndItsBodyNeverServed) {
  Start();
  const std::string smuggled = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"identity", head + "Transfer-Encoding: identity\r\n\r\n" + smuggled},
      {"gzip", head + "Transfer-Encoding: gzip\r\n\r\n" + smuggled},
      {"chunked, identity",
       head + "Transfer-Encoding: chunked, identity\r\n\r\n" + smuggled},
      {"two fields, chunked then identity",
       head +
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" +
           smuggled},
      {"Content-Length, then Transfer-Encoding",
       head + "Content-Length: 0\r\nTransfer-Encoding: identity\r\n\r\n" +
           smuggled},
      {"chunked, empty body",
       head + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
      {"chunked, the request in the body",
       head + "Transfer-Encoding: chunked\r\n\r\n" +
           absl::StrCat(absl::Hex(smuggled.size())) + "\r\n" + smuggled +
           "\r\n0\r\n\r\n"},
  };
  for (const auto& [name, request] : cases) {
    auto start = std::chrono::steady_clock::now();
    std::string raw = RawExchange(port_, request);
    EXPECT_EQ(StatusOf(raw), 400) << name << "\n" << raw;
    EXPECT_THAT(raw, HasSubstr("\r\n\r\nTransfer-Encoding not accepted\n"))
        << name;
    EXPECT_THAT(raw, HasSubstr("Connection: close")) << name;
    EXPECT_EQ(ResponsesIn(raw), 1) << name << "\n" << raw;
    EXPECT_THAT(raw, ::testing::Not(HasSubstr("notifyd_"))) << name;
    // Closed by the server, not left open until RawExchange gives up.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << name;
  }
}

// The 400 for a repeated or missing field names the field.
TEST_F(HostileHttpTest, HeaderErrorsNameTheField) {
  Start();
  const std::string stream = "/v1/stream?user=alice";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Get(stream, {"Authorization: Bearer a", "authorization: Bearer b"}),
       "header given more than once: Authorization"},
      {Get(stream, {"Last-Event-ID: 1", "Last-Event-ID: 1"}),
       "header given more than once: Last-Event-ID"},
      {Get(stream, {"Cookie: a=1", "Cookie: b=2"}),
       "header given more than once: Cookie"},
      {Get("/healthz", {"host: x"}), "header given more than once: Host"},
      {"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
       "missing Host header"},
      {"GET /healthz HTTP/1.1\r\nHost: a@x\r\nConnection: close\r\n\r\n",
       "invalid Host header"},
  };
  for (const auto& [request, message] : cases) {
    std::string raw = RawExchange(port_, request);
    EXPECT_EQ(StatusOf(raw), 400) << message << "\n" << raw;
    EXPECT_THAT(raw, HasSubstr(absl::StrCat("\r\n\r\n", message, "\n"))) << raw;
  }
  EXPECT_EQ(hub_.Connections(), 0u);
}

// HTTP/1.0 may omit Host; HTTP/1.1 may not.
TEST_F(HostileHttpTest, HostIsRequiredFromHttp11On) {
  Start();
  std::string raw = RawExchange(port_, "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.0 200"));
  EXPECT_THAT(raw, ::testing::EndsWith("\r\n\r\nok\n"));
  raw = RawExchange(port_, "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(StatusOf(raw), 400) << raw;
  // An empty Host is what a client sends for a target without authority.
  raw = RawExchange(
      port_, "GET /healthz HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(raw), 200) << raw;
}

// Every response the edge writes tells browsers not to sniff its type, so
// an error that echoes input can only ever be read as text.
TEST_F(HostileHttpTest, EveryResponseSaysNoSniff) {
  Start();
  auto nosniff = [](const testing::HttpResponse& r) {
    auto it = r.headers.find("x-content-type-options");
    return it == r.headers.end() ? std::string("(none)") : it->second;
  };
  testing::HttpResponse r = testing::HttpGet(port_, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nosniff(r), "nosniff") << "healthz";
  r = testing::HttpGet(port_, "/healthz", {}, "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nosniff(r), "nosniff") << "HEAD";
  r = testing::HttpGet(port_, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nosniff(r), "nosniff") << "page";
  r = testing::HttpGet(port_, "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(nosniff(r), "nosniff") << "404";
  r = testing::HttpGet(port_, "/v1/stream?user=alice&channels=%3Cb%3E");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(nosniff(r), "nosniff") << "400";
  r = testing::HttpGet(port_, "/v1/stream");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(nosniff(r), "nosniff") << "401";
  r = testing::HttpGet(port_, "/v1/stream", {}, "OPTIONS");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(nosniff(r), "nosniff") << "preflight";
  std::string raw =
      RawExchange(port_, Get("/healthz", {"Content-Length: 1"}) + "x");
  EXPECT_EQ(StatusOf(raw), 413) << raw;
  EXPECT_THAT(raw, HasSubstr("\r\nX-Content-Type-Options: nosniff\r\n"));
  raw = RawExchange(port_, "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(StatusOf(raw), 400) << raw;
  EXPECT_THAT(raw, HasSubstr("\r\nX-Content-Type-Options: nosniff\r\n"));

  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  EXPECT_EQ(nosniff(c.response()), "nosniff") << "stream head";
  EXPECT_EQ(c.response().headers.at("content-type"), "text/event-stream");
}

// A value echoed in an error body comes back escaped: no raw CR, LF, ESC
// or NUL, so it can neither add a header nor drive a terminal.
TEST_F(HostileHttpTest, ErrorBodiesEchoNoRawControlBytes) {
  Start();
  std::string raw = RawExchange(
      port_,
      Get("/v1/stream?user=alice&channels=a%0D%0AX-Injected:%201%1B%5B2J%00"));
  EXPECT_EQ(StatusOf(raw), 400) << raw;
  size_t body = raw.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(raw.substr(body + 4),
            "invalid channel name: a\\x0d\\x0aX-Injected: 1\\x1b[2J\\x00\n");
  EXPECT_THAT(raw.substr(0, body), ::testing::Not(HasSubstr("X-Injected")));
  EXPECT_THAT(raw,
              HasSubstr("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
}

TEST_F(HostileHttpTest, PayloadsCannotForgeEventsThroughTheServer) {
  Start();
  SseClient c;
  ASSERT_EQ(c.Open(port_, "/v1/stream?user=alice"), 200);
  WaitForConnections(1);
  const std::string forged = "x\n\nid: 999\nevent: evil\ndata: y";
  uint64_t id = Notify("user:alice", forged);
  const std::string cr_forged = "a\r\rid: 998\r\revent: evil\rdata: z";
  uint64_t id2 = Notify("user:alice", cr_forged);
  const std::string nul = "n\0ul\r\n\r\nid: 997"s;
  uint64_t id3 = Notify("user:alice", nul);
  // An event name that would split the frame is never sent at all.
  Notify("user:alice", "dropped", "evil\nid: 996");
  uint64_t last = Notify("user:alice", "after");

  std::optional<SseMessage> m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id));
  EXPECT_EQ(m->event, "notification");
  EXPECT_EQ(m->data, "x\n\nid: 999\nevent: evil\ndata: y");

  m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id2));
  EXPECT_EQ(m->event, "notification");
  // EventSource joins data: lines with LF, so CRs come back as LFs.
  EXPECT_EQ(m->data, "a\n\nid: 998\n\nevent: evil\ndata: z");

  m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(id3));
  EXPECT_EQ(m->data, "n\0ul\n\nid: 997"s);

  m = c.NextEvent();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, std::to_string(last));
  EXPECT_EQ(m->data, "after");
}

}  // namespace
}  // namespace notifyd::edge
