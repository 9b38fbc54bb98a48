// Which client a request counts as when it comes through a proxy
// (edge/trusted_proxies.h).
#include "edge/trusted_proxies.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/address.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

boost::asio::ip::address Ip(const std::string& text) {
  return boost::asio::ip::make_address(text);
}

TrustedProxies Proxies(const std::vector<std::string>& entries) {
  absl::StatusOr<TrustedProxies> p = TrustedProxies::Parse(entries);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.value_or(TrustedProxies());
}

TEST(TrustedProxiesTest, AcceptsAddressesAndCidrBlocksOfBothFamilies) {
  TrustedProxies p = Proxies(
      {"10.0.0.0/8", "192.168.1.7", " fd00::/8 ", "::1", "172.16.5.9/12"});
  EXPECT_TRUE(p.Trusts(Ip("10.200.3.4")));
  EXPECT_TRUE(p.Trusts(Ip("192.168.1.7")));
  EXPECT_FALSE(p.Trusts(Ip("192.168.1.8")));
  EXPECT_TRUE(p.Trusts(Ip("fd12:3456::1")));
  EXPECT_TRUE(p.Trusts(Ip("::1")));
  EXPECT_FALSE(p.Trusts(Ip("::2")));
  EXPECT_FALSE(p.Trusts(Ip("11.0.0.1")));
  // A host inside a block stands for the block.
  EXPECT_TRUE(p.Trusts(Ip("172.31.255.255")));
  EXPECT_FALSE(p.Trusts(Ip("172.32.0.0")));
  // A dual-stack socket's IPv4-mapped peer is its IPv4 address.
  EXPECT_TRUE(p.Trusts(Ip("::ffff:10.1.1.1")));
}

TEST(TrustedProxiesTest, RefusesWhatIsNotAnAddressNamingIt) {
  for (const char* bad : {"10.0.0.0/33", "proxy.local", "10.0.0", "", "::1/200",
                          "10.0.0.0/8/8"}) {
    absl::StatusOr<TrustedProxies> p = TrustedProxies::Parse({"::1", bad});
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(),
                HasSubstr(absl::StrCat("--trusted_proxies: \"", bad, "\"")));
  }
  std::vector<std::string> many(TrustedProxies::kMaxEntries + 1, "10.0.0.1");
  EXPECT_THAT(TrustedProxies::Parse(many).status().message(),
              HasSubstr("at most 256 entries"));
  EXPECT_TRUE(TrustedProxies::Parse({}).value().empty());
}

TEST(TrustedProxiesTest, HeadersFromAnyoneElseAreIgnored) {
  TrustedProxies p = Proxies({"127.0.0.1"});
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.2"), "for=1.2.3.4", "5.6.7.8"),
            "127.0.0.2");
  EXPECT_EQ(TrustedProxies().ClientAddress(Ip("127.0.0.1"), "", "5.6.7.8"),
            "127.0.0.1");
}

TEST(TrustedProxiesTest, XForwardedForIsWalkedFromTheRightPastTrustedHops) {
  TrustedProxies p = Proxies({"127.0.0.1", "10.0.0.0/8"});
  // The client's own claim (left) is not believed over the proxies'.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "6.6.6.6, 203.0.113.9"),
            "203.0.113.9");
  EXPECT_EQ(
      p.ClientAddress(Ip("127.0.0.1"), "", "6.6.6.6, 203.0.113.9, 10.1.1.1"),
      "203.0.113.9");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "10.0.0.5,10.0.0.6"),
            "10.0.0.5");
  // No header: the proxy itself.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", ""), "127.0.0.1");
  // Ports and IPv6 forms a proxy may write.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "203.0.113.9:5555"),
            "203.0.113.9");
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "2001:db8::7"), "2001:db8::7");
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "[2001:db8::7]:443"),
            "2001:db8::7");
}

TEST(TrustedProxiesTest, AnEntryThatIsNoAddressEndsTheWalk) {
  TrustedProxies p = Proxies({"127.0.0.1", "10.0.0.0/8"});
  // "unknown" was said by 10.0.0.9, a trusted hop; what lies left of it
  // is nobody's word.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "1.1.1.1, unknown, 10.0.0.9"),
            "10.0.0.9");
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "garbage"), "127.0.0.1");
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", ",,,"), "127.0.0.1");
}

TEST(TrustedProxiesTest, ForwardedNamesTheClientAndWinsOverXForwardedFor) {
  TrustedProxies p = Proxies({"127.0.0.1"});
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"),
                            "for=192.0.2.60;proto=http;by=203.0.113.43",
                            "198.51.100.1"),
            "192.0.2.60");
  EXPECT_EQ(
      p.ClientAddress(Ip("127.0.0.1"), "For=\"[2001:db8:cafe::17]:4711\"", ""),
      "2001:db8:cafe::17");
  EXPECT_EQ(
      p.ClientAddress(Ip("127.0.0.1"),
                      "for=198.51.100.17, for=127.0.0.1;by=\"x;y,z\"", ""),
      "198.51.100.17");
  // An obfuscated identifier is no address: the trusted hop is kept.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "for=_hidden", ""), "127.0.0.1");
}

TEST(TrustedProxiesTest, ForwardedForReadsTheForParameterOfEachElement) {
  EXPECT_THAT(ForwardedFor("for=a;proto=https, by=x, proto=http;FOR=\"[::1]\""),
              ElementsAre("a", "[::1]"));
  EXPECT_THAT(ForwardedFor(""), ElementsAre());
}

TEST(TrustedProxiesTest, OnlyTheLastHopsOfAHugeChainAreRead) {
  TrustedProxies p = Proxies({"127.0.0.1", "10.0.0.0/8"});
  std::string chain = "203.0.113.1";
  for (int i = 0; i < 10'000; ++i) chain += ", 10.0.0.1";
  // All of the last kMaxHops are trusted: the leftmost of those.
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", chain), "10.0.0.1");
  std::string forwarded = "for=203.0.113.1";
  for (int i = 0; i < 10'000; ++i) forwarded += ",for=10.0.0.1";
  EXPECT_EQ(ForwardedFor(forwarded).size(), TrustedProxies::kMaxHops);
  EXPECT_EQ(p.ClientAddress(Ip("127.0.0.1"), "", "203.0.113.1, 10.0.0.1"),
            "203.0.113.1");
}

}  // namespace
}  // namespace notifyd::edge
