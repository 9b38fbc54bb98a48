// Listener flags: "host:port" split once for both listeners.
#include "common/listen_address.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, SplitsHostAndPort) {
  auto a = ParseListenAddress("127.0.0.1:50051", "--grpc_listen");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 50051);
}

TEST(ListenAddressTest, DropsIpv6BracketsAndAllowsAnEmptyHost) {
  auto v6 = ParseListenAddress("[::1]:0", "--grpc_listen");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  auto any = ParseListenAddress(":8080", "--http_listen");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->host, "");
}

TEST(ListenAddressTest, RefusesWhatIsNotHostPortNamingTheFlag) {
  for (const char* bad : {"127.0.0.1", "host:", "host:http", "host:65536",
                          "host:-1", "host:1:x"}) {
    auto a = ParseListenAddress(bad, "--grpc_listen");
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_THAT(a.status().message(), HasSubstr("--grpc_listen"));
    EXPECT_THAT(a.status().message(), HasSubstr("want host:port"));
  }
}

}  // namespace
}  // namespace notifyd
