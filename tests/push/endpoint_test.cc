// Push endpoints: what is accepted and taken apart, and the SSRF rule for
// the addresses they resolve to.
#include "push/endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace notifyd::push {
namespace {

using ::testing::HasSubstr;

TEST(EndpointTest, TakesApartARealEndpoint) {
  Endpoint e =
      ParseEndpoint("https://fcm.googleapis.com/fcm/send/abc:DEF?x=1").value();
  EXPECT_EQ(e.host, "fcm.googleapis.com");
  EXPECT_EQ(e.port, 443);
  EXPECT_EQ(e.target, "/fcm/send/abc:DEF?x=1");
  EXPECT_EQ(e.origin, "https://fcm.googleapis.com");
  EXPECT_EQ(e.host_header, "fcm.googleapis.com");
  EXPECT_FALSE(e.host_is_address);
}

TEST(EndpointTest, OriginCarriesAnExplicitPortAndLowercasesTheHost) {
  Endpoint e = ParseEndpoint("https://Push.Example.NET:8443").value();
  EXPECT_EQ(e.host, "push.example.net");
  EXPECT_EQ(e.port, 8443);
  EXPECT_EQ(e.target, "/");
  EXPECT_EQ(e.origin, "https://push.example.net:8443");
  EXPECT_EQ(ParseEndpoint("https://push.example.net:443/x")->origin,
            "https://push.example.net");
  EXPECT_EQ(ParseEndpoint("https://push.example.net?id=1")->target, "/?id=1");
}

TEST(EndpointTest, AddressHostsResolveAsThemselves) {
  Endpoint v4 = ParseEndpoint("https://127.0.0.1:9000/push/a").value();
  EXPECT_EQ(v4.host, "127.0.0.1");
  EXPECT_TRUE(v4.host_is_address);
  EXPECT_EQ(v4.origin, "https://127.0.0.1:9000");
  Endpoint v6 = ParseEndpoint("https://[2001:DB8::1]:9000/p").value();
  EXPECT_EQ(v6.host, "2001:db8::1");
  EXPECT_TRUE(v6.host_is_address);
  EXPECT_EQ(v6.host_header, "[2001:db8::1]:9000");
  EXPECT_EQ(v6.origin, "https://[2001:db8::1]:9000");
}

TEST(EndpointTest, RefusesWhatIsNotAnHttpsUrlWithAHost) {
  for (const std::string& url :
       {std::string("http://push.example.net/x"),
        std::string("ftp://push.example.net/x"), std::string("push.example"),
        std::string("https:///x"), std::string("https://user:pw@h.example/"),
        std::string("https://h.example/x#frag"),
        std::string("https://h.example:0/"),
        std::string("https://h.example:70000/"),
        std::string("https://h%0d%0aX:1.example/"),
        std::string("https://h.example:12x/p"),
        std::string("https://push.example:host.example/p"),
        std::string("https://[2001:db8::1]junk:8443/p"), std::string("")}) {
    absl::StatusOr<Endpoint> e = ParseEndpoint(url);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
  EXPECT_THAT(ParseEndpoint("http://h.example/").status().message(),
              HasSubstr("https"));
}

TEST(EndpointTest, RefusesAnEndpointOverTheLengthLimit) {
  const std::string base = "https://push.example.net/";
  std::string url = base + std::string(kMaxEndpointBytes - base.size(), 'a');
  EXPECT_TRUE(ParseEndpoint(url).ok());
  EXPECT_EQ(ParseEndpoint(url + "a").status().code(),
            absl::StatusCode::kInvalidArgument);
}

bool Public(const char* address) {
  return IsPublicAddress(boost::asio::ip::make_address(address));
}

TEST(EndpointTest, PublicAddressesPass) {
  for (const char* a :
       {"8.8.8.8", "142.250.74.78", "1.1.1.1", "2a00:1450:4001:82b::200a",
        "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
        "2002:808:808::1"}) {
    EXPECT_TRUE(Public(a)) << a;
  }
}

TEST(EndpointTest, PrivateAndSpecialAddressesAreRefused) {
  for (const char* a : {"0.0.0.0",
                        "10.1.2.3",
                        "100.64.0.1",
                        "127.0.0.1",
                        "127.9.9.9",
                        "169.254.169.254",
                        "172.16.0.1",
                        "172.31.255.255",
                        "192.0.0.1",
                        "192.0.2.1",
                        "192.168.1.1",
                        "198.18.0.1",
                        "198.51.100.1",
                        "203.0.113.1",
                        "224.0.0.1",
                        "239.255.255.250",
                        "240.0.0.1",
                        "255.255.255.255",
                        "::",
                        "::1",
                        "fc00::1",
                        "fd12:3456::1",
                        "fe80::1",
                        "fec0::1",
                        "ff02::1",
                        "2001:db8::1",
                        "100::1",
                        "::ffff:127.0.0.1",
                        "::ffff:10.0.0.1",
                        "::127.0.0.1",
                        "64:ff9b::a00:1",
                        "2002:c0a8:101::1"}) {
    EXPECT_FALSE(Public(a)) << a;
  }
  EXPECT_TRUE(Public("172.32.0.1"));   // just past 172.16/12
  EXPECT_TRUE(Public("100.128.0.1"));  // just past 100.64/10
  EXPECT_FALSE(Public("4000::1"));     // outside 2000::/3
}

}  // namespace
}  // namespace notifyd::push
