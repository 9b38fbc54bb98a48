// What the tests of the browser's JSON routes share (inbox_server_test.cc,
// push_server_test.cc): a real EdgeServer on an ephemeral port with the
// memory store (FakeStore), tokens checked by a test verifier (tok-alice,
// tok-bob; tok-expired is refused as expired, anything else as forged),
// https://app.example as the one allowed origin, and readers of the JSON
// answers. A test adjusts options_ before Start().
#ifndef NOTIFYD_TESTS_EDGE_JSON_API_SERVER_TEST_H_
#define NOTIFYD_TESTS_EDGE_JSON_API_SERVER_TEST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "edge/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_fixture.h"
#include "tests/edge/fake_store.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge::testing {

inline const std::string kAlice = "Authorization: Bearer tok-alice";
inline const std::string kBob = "Authorization: Bearer tok-bob";
inline const std::string kJson = "Content-Type: application/json";

class JsonApiServerTest : public EdgeServerFixture {
 protected:
  JsonApiServerTest() {
    options_.heartbeat = absl::Seconds(30);
    options_.cors_origins = {"https://app.example"};
    options_.token_verifier =
        [](absl::string_view token) -> absl::StatusOr<Identity> {
      if (token == "tok-alice") return Identity{"alice", {}, false};
      if (token == "tok-bob") return Identity{"bob", {}, false};
      if (token == "tok-expired") {
        return absl::UnauthenticatedError("token expired");
      }
      return absl::UnauthenticatedError("bad token");
    };
  }
  // The response's JSON body; fails the test when it is not JSON.
  static boost::json::value Json(const HttpResponse& r) {
    EXPECT_EQ(
        r.headers.count("content-type") ? r.headers.at("content-type") : "",
        "application/json");
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }

  // A refusal: its status and a JSON {"error": …} that says `what`.
  static void ExpectRefused(const HttpResponse& r, int status,
                            const std::string& what) {
    EXPECT_EQ(r.status, status) << r.body;
    boost::json::value v = Json(r);
    ASSERT_TRUE(v.is_object()) << r.body;
    ASSERT_TRUE(v.as_object().contains("error")) << r.body;
    EXPECT_THAT(std::string(v.at("error").as_string()),
                ::testing::HasSubstr(what));
  }
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_JSON_API_SERVER_TEST_H_
