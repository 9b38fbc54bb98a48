// What a push subscription must look like before it is stored
// (edge/push_request.h) and how a push credential is read and kept
// (edge/push_credential.h). push_server_test.cc runs the same rules through
// the routes; these are the corners of each rule.
#include "edge/push_request.h"

#include <string>

#include "absl/strings/escaping.h"
#include "edge/push_credential.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::HasSubstr;

bool Accepted(const std::string& endpoint, bool allow_private = false) {
  return CheckPushEndpoint(endpoint, allow_private).ok();
}

TEST(PushEndpointTest, PublicHttpsHostsAreAccepted) {
  EXPECT_TRUE(Accepted("https://fcm.googleapis.com/fcm/send/abc:def"));
  EXPECT_TRUE(Accepted("https://updates.push.services.mozilla.com/wpush/v2/x"));
  EXPECT_TRUE(Accepted("https://push.example.net./x"));  // absolute name
  EXPECT_TRUE(Accepted("https://push.example.net:8443/x?q=1"));
  EXPECT_TRUE(Accepted("https://[2606:4700::1111]/x"));
  EXPECT_TRUE(Accepted("https://[64:ff9b::808:808]/x"));  // NAT64 of 8.8.8.8
  EXPECT_TRUE(Accepted("https://11.0.0.1/x"));
  EXPECT_TRUE(Accepted("https://172.32.0.1/x"));  // just past 172.16/12
}

TEST(PushEndpointTest, EveryNonPublicRangeIsRefused) {
  for (const char* host : {"0.1.2.3",
                           "10.0.0.1",
                           "100.127.255.255",
                           "127.8.8.8",
                           "169.254.0.1",
                           "172.31.255.255",
                           "192.0.0.8",
                           "192.0.2.1",
                           "192.168.0.1",
                           "198.18.0.1",
                           "198.51.100.1",
                           "203.0.113.1",
                           "224.0.0.1",
                           "240.0.0.1",
                           "255.255.255.255",
                           "[::]",
                           "[::1]",
                           "[::127.0.0.1]",
                           "[::ffff:192.168.0.1]",
                           "[64:ff9b::a00:1]",
                           "[fc00::1]",
                           "[fdff::1]",
                           "[fe80::1]",
                           "[febf::1]",
                           "[fec0::1]",
                           "[ff02::1]",
                           "[2001:db8::1]"}) {
    SCOPED_TRACE(host);
    absl::Status s = CheckPushEndpoint(std::string("https://") + host + "/x",
                                       /*allow_private=*/false);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("private"));
    EXPECT_TRUE(Accepted(std::string("https://") + host + "/x",
                         /*allow_private=*/true));
  }
}

TEST(PushEndpointTest, LocalNamesAreRefusedUnlessAllowed) {
  EXPECT_FALSE(Accepted("https://localhost/x"));
  EXPECT_FALSE(Accepted("https://a.b.localhost/x"));
  EXPECT_FALSE(Accepted("https://printer/x"));
  EXPECT_TRUE(Accepted("https://localhost/x", true));
  EXPECT_TRUE(Accepted("https://printer/x", true));
  // Not a URL of the right kind, allowed or not.
  EXPECT_FALSE(Accepted("http://localhost/x", true));
  EXPECT_FALSE(Accepted("https://u@push.example.net/x", true));
  EXPECT_FALSE(Accepted("https://push.example.net/a b", true));
  EXPECT_FALSE(Accepted("https://push.example.net/x#fragment", true));
  EXPECT_FALSE(Accepted("", true));
}

TEST(Base64UrlTest, PaddingIsToleratedAndOtherAlphabetsAreNot) {
  EXPECT_EQ(*DecodeBase64Url("_-8", "k", 2), "\xff\xef");
  EXPECT_EQ(*DecodeBase64Url("_-8=", "k", 2), "\xff\xef");
  EXPECT_EQ(*DecodeBase64Url("YQ", "k", 1), "a");
  EXPECT_EQ(*DecodeBase64Url("YQ==", "k", 1), "a");
  for (const char* bad :
       {"/+8=", "YQ=", "YQ===", "Y", "", "==", "Y Q", "YQ\n"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<std::string> decoded = DecodeBase64Url(bad, "keys.auth", 1);
    EXPECT_EQ(decoded.status().message(), "keys.auth must be base64url");
  }
  EXPECT_EQ(DecodeBase64Url("YWI", "keys.auth", 1).status().message(),
            "keys.auth must decode to 1 bytes, not 2");
  EXPECT_EQ(
      DecodeBase64Url(EncodeBase64Url("\x01\x02\x03\x04"), "k", 4).value(),
      "\x01\x02\x03\x04");
}

TEST(P256PointTest, OnlyUncompressedPointsOnTheCurve) {
  const std::string point = *DecodeBase64Url(
      "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZ"
      "GH6SRpkNtoIAiw4",
      "p256dh", 65);
  EXPECT_TRUE(CheckP256Point(point).ok());
  std::string off = point;
  off[64] ^= 1;
  EXPECT_FALSE(CheckP256Point(off).ok());
  std::string hybrid = point;
  hybrid[0] = '\x06';
  EXPECT_FALSE(CheckP256Point(hybrid).ok());
  EXPECT_FALSE(CheckP256Point(std::string(65, '\0')).ok());
  EXPECT_FALSE(CheckP256Point(point.substr(0, 64)).ok());
}

TEST(PushCredentialTest, ReadFromThePushSchemeOnly) {
  EXPECT_EQ(PushCredentialOf("Push abc"), "abc");
  EXPECT_EQ(PushCredentialOf("push  abc "), "abc");
  EXPECT_EQ(PushCredentialOf("Bearer abc"), "");
  EXPECT_EQ(PushCredentialOf("Pushabc"), "");
  EXPECT_EQ(PushCredentialOf(""), "");
}

TEST(PushCredentialTest, NewCredentialsAreRandomAndKeptHashed) {
  absl::StatusOr<std::string> a = NewPushCredential();
  absl::StatusOr<std::string> b = NewPushCredential();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 43u);
  EXPECT_NE(*a, *b);
  std::string raw;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(*a, &raw));
  EXPECT_EQ(raw.size(), 32u);
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(absl::BytesToHexString(PushCredentialHash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace notifyd::edge
