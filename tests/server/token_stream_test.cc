// Subscriber tokens end to end: IssueToken mints them, /v1/stream accepts
// them from the header, the query or a cookie, and user A's token never
// reads user B's channel or an ungranted channel, however it is spelled.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/edge/sse_client.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using edge::testing::HttpGet;
using edge::testing::SseClient;
using ::testing::HasSubstr;

const std::string kKey(32, 's');

server::AppOptions WithTokens() {
  server::AppOptions options;
  api::TokenConfig tokens;
  tokens.key = kKey;
  tokens.max_ttl = absl::Hours(2);
  options.tokens = tokens;
  return options;
}

class TokenStreamTest : public ::testing::Test {
 protected:
  TokenStreamTest() : server_(WithTokens()) {}

  std::string Issue(const std::string& user,
                    std::vector<std::string> channels = {}) {
    pb::IssueTokenRequest request;
    request.set_user_id(user);
    for (auto& c : channels) request.add_channels(c);
    pb::IssueTokenResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        server_.stub().IssueToken(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.token();
  }

  int StreamStatus(const std::string& target, const std::string& token) {
    return HttpGet(port(), target, {"Authorization: Bearer " + token}).status;
  }

  uint16_t port() { return server_.app().http_port(); }

  testing::TestServer server_;
};

TEST_F(TokenStreamTest, IssuedTokenOpensTheUsersStreamFromHeaderQueryOrCookie) {
  std::string token = Issue("alice");
  SseClient by_header, by_query, by_cookie;
  EXPECT_EQ(
      by_header.Open(port(), "/v1/stream", {"Authorization: Bearer " + token}),
      200);
  EXPECT_EQ(by_query.Open(port(), "/v1/stream?access_token=" + token), 200);
  EXPECT_EQ(by_cookie.Open(port(), "/v1/stream",
                           {"Cookie: theme=dark; access_token=" + token}),
            200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 3));
  pb::NotifyUserResponse response;
  ASSERT_TRUE(
      testing::NotifyUser(server_.stub(), "alice", "for alice", &response)
          .ok());
  EXPECT_EQ(response.live_recipients(), 3u);
  for (SseClient* c : {&by_header, &by_query, &by_cookie}) {
    auto got = c->NextEvent();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->data, "for alice");
  }
}

TEST_F(TokenStreamTest, IssueTokenReportsExpiryCappedByMaxTtl) {
  pb::IssueTokenRequest request;
  request.set_user_id("alice");
  request.set_ttl_seconds(10 * 3600);
  pb::IssueTokenResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().IssueToken(&context, request, &response).ok());
  int64_t ttl =
      response.expires_at().seconds() - absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(ttl, 2 * 3600);
  EXPECT_GE(ttl, 2 * 3600 - 60);
}

TEST_F(TokenStreamTest, IssueTokenValidatesItsFields) {
  for (auto [user, channel, field] :
       {std::tuple<std::string, std::string, std::string>{"bad user", "",
                                                          "user_id"},
        {"alice", "user:bob", "channels[0]"},
        {"alice", "a,b", "channels[0]"}}) {
    pb::IssueTokenRequest request;
    request.set_user_id(user);
    if (!channel.empty()) request.add_channels(channel);
    pb::IssueTokenResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        server_.stub().IssueToken(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << user;
    EXPECT_THAT(status.error_message(), HasSubstr(field));
  }
}

// Through the real gRPC server: a token that would be too long for
// Verify is refused at IssueToken (not minted to fail on every stream), and
// a bare "*" is refused as the wildcard it looks like.
TEST_F(TokenStreamTest, IssueTokenRefusesTooManyChannelsAndBareWildcards) {
  auto issue = [this](const std::vector<std::string>& channels) {
    pb::IssueTokenRequest request;
    request.set_user_id("alice");
    for (const std::string& c : channels) request.add_channels(c);
    pb::IssueTokenResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        server_.stub().IssueToken(&context, request, &response);
    EXPECT_TRUE(response.token().empty()) << "minted";
    return status;
  };
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back(absl::StrCat("channel-", i));
  grpc::Status status = issue(many);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channels: 5000 grants"));
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("tokens are limited to ",
                                     api::kMaxTokenBytes, " bytes")));

  for (const char* wildcard : {"*", "news/*/x", "**"}) {
    status = issue({"news", wildcard});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << wildcard;
    EXPECT_THAT(status.error_message(), HasSubstr("channels[1]")) << wildcard;
    EXPECT_THAT(status.error_message(),
                HasSubstr("wildcards are not supported"))
        << wildcard;
  }
  // A trailing '*' after a name is a prefix grant, and stays allowed.
  EXPECT_FALSE(Issue("alice", {"news", "team/*"}).empty());
}

TEST_F(TokenStreamTest, MissingForgedOrExpiredTokensAre401) {
  EXPECT_EQ(HttpGet(port(), "/v1/stream").status, 401);
  // Without --insecure_dev_identity, ?user= proves nothing.
  EXPECT_EQ(HttpGet(port(), "/v1/stream?user=alice").status, 401);
  std::string token = Issue("alice");
  std::string forged = token.substr(0, token.size() - 2) +
                       (token.substr(token.size() - 2) == "AA" ? "BB" : "AA");
  EXPECT_EQ(StreamStatus("/v1/stream", forged), 401);
  api::TokenConfig other_config;
  other_config.key = std::string(32, 'x');
  auto other_key = *api::TokenAuthority::Create(other_config);
  EXPECT_EQ(StreamStatus("/v1/stream",
                         other_key.Issue("alice", {}, absl::Minutes(5))->first),
            401);
  api::TokenConfig same_config;
  same_config.key = kKey;
  auto same_key = *api::TokenAuthority::Create(same_config);
  auto expired = same_key.Issue("alice", {}, absl::Minutes(1),
                                absl::Now() - absl::Hours(1));
  EXPECT_EQ(StreamStatus("/v1/stream", expired->first), 401);
  EXPECT_EQ(StreamStatus("/v1/stream",
                         same_key.Issue("alice", {}, absl::Minutes(1))->first),
            200);
}

TEST_F(TokenStreamTest, ATokenNeverReadsAnotherUsersChannelByAnySpelling) {
  std::string token = Issue("alice", {"news", "team/*"});
  const char* refused[] = {
      "user:bob",      "user%3Abob",  "USER:bob", "user:bob,",      ",user:bob",
      "news,user:bob", "user:alice2", "user:*",   "sports",         "News",
      "news2",         "team",        "teams/x",  "news/../sports",
  };
  for (const char* channels : refused) {
    int status =
        StreamStatus(absl::StrCat("/v1/stream?channels=", channels), token);
    EXPECT_TRUE(status == 403 || status == 400)
        << channels << " answered " << status;
  }
  // Channel names are opaque, never path-normalized: "team/../user:bob" is
  // a channel under the granted "team/" prefix, not bob's channel.
  SseClient dotted;
  ASSERT_EQ(dotted.Open(port(), "/v1/stream?channels=team/../user:bob",
                        {"Authorization: Bearer " + token}),
            200);
  // ?user= cannot switch identity when a token is given.
  SseClient as_bob;
  ASSERT_EQ(as_bob.Open(port(), "/v1/stream?user=bob",
                        {"Authorization: Bearer " + token}),
            200);
  ASSERT_TRUE(testing::NotifyUser(server_.stub(), "bob", "bob's secret").ok());
  EXPECT_FALSE(as_bob.NextEvent(std::chrono::milliseconds(300)).has_value());
  EXPECT_FALSE(dotted.NextEvent(std::chrono::milliseconds(100)).has_value());
}

TEST_F(TokenStreamTest, GrantedChannelsOpenExactlyAndByPrefix) {
  std::string token = Issue("alice", {"news", "team/*"});
  EXPECT_EQ(StreamStatus("/v1/stream?channels=news", token), 200);
  EXPECT_EQ(StreamStatus("/v1/stream?channels=team/red,news", token), 200);
  EXPECT_EQ(StreamStatus("/v1/stream?channels=user:alice", token), 200);
  auto denied = HttpGet(port(), "/v1/stream?channels=sports",
                        {"Authorization: Bearer " + token});
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, HasSubstr("sports"));
}

// A token's channels are what the stream MAY read; ?channels= says what it
// DOES read (as with Centrifugo and Mercure): a granted channel the query
// does not name is not subscribed, and the Publish to it reaches only the
// stream that asked.
TEST_F(TokenStreamTest, GrantedChannelsAreReadOnlyWhenTheStreamNamesThem) {
  std::string token = Issue("alice", {"news/eu"});
  SseClient own_only, asked;
  ASSERT_EQ(
      own_only.Open(port(), "/v1/stream", {"Authorization: Bearer " + token}),
      200);
  ASSERT_EQ(asked.Open(port(), "/v1/stream?channels=news/eu",
                       {"Authorization: Bearer " + token}),
            200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 2));

  pb::PublishRequest publish;
  publish.set_channel("news/eu");
  publish.set_data("headline");
  pb::PublishResponse published;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().Publish(&context, publish, &published).ok());
  EXPECT_EQ(published.live_recipients(), 1u);
  ASSERT_TRUE(testing::NotifyUser(server_.stub(), "alice", "mine").ok());

  auto first = asked.NextEvent();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->data, "headline");
  // The user's own channel comes with either.
  for (SseClient* c : {&asked, &own_only}) {
    auto next = c->NextEvent();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->data, "mine");
  }
}

}  // namespace
}  // namespace notifyd
