// Subscriber tokens: what is accepted, and every way a token is refused.
#include "server/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace notifyd::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TokenAuthority Hs256(std::string key = std::string(32, 'k')) {
  TokenConfig config;
  config.key = std::move(key);
  return *TokenAuthority::Create(config);
}

std::string B64(absl::string_view s) { return absl::WebSafeBase64Escape(s); }

TEST(TokensTest, AnIssuedTokenVerifiesWithItsClaims) {
  TokenAuthority authority = Hs256();
  auto issued =
      authority.Issue("alice", {"news", "team/*"}, absl::Minutes(5), kNow);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->second, absl::ToUnixSeconds(kNow) + 300);
  auto claims = authority.Verify(issued->first, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->user_id, "alice");
  EXPECT_THAT(claims->channels, ElementsAre("news", "team/*"));
}

TEST(TokensTest, TtlIsCappedByMaxTtl) {
  TokenConfig config;
  config.key = std::string(32, 'k');
  config.max_ttl = absl::Minutes(10);
  TokenAuthority authority = *TokenAuthority::Create(config);
  auto issued = authority.Issue("a", {}, absl::Hours(100), kNow);
  ASSERT_TRUE(issued.ok());
  EXPECT_EQ(issued->second, absl::ToUnixSeconds(kNow) + 600);
}

TEST(TokensTest, ExpiredTokensAreRefusedAfterTheSkew) {
  TokenAuthority authority = Hs256();
  auto issued = authority.Issue("a", {}, absl::Seconds(60), kNow);
  EXPECT_TRUE(authority.Verify(issued->first, kNow + absl::Seconds(80)).ok());
  auto late = authority.Verify(issued->first, kNow + absl::Seconds(91));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));
}

TEST(TokensTest, AnotherKeysSignatureIsRefused) {
  auto issued =
      Hs256(std::string(32, 'x')).Issue("a", {}, absl::Minutes(1), kNow);
  auto claims = Hs256().Verify(issued->first, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokensTest, AlgNoneIsRefused) {
  std::string token = absl::StrCat(B64(R"({"alg":"none","typ":"JWT"})"), ".",
                                   B64(R"({"sub":"a","exp":1900000000})"), ".");
  EXPECT_FALSE(Hs256().Verify(token, kNow).ok());
  EXPECT_FALSE(Hs256().Verify(token + "sig", kNow).ok());
}

TEST(TokensTest, TamperedClaimsAreRefused) {
  TokenAuthority authority = Hs256();
  auto issued = authority.Issue("alice", {}, absl::Minutes(1), kNow);
  std::string token = issued->first;
  size_t a = token.find('.'), b = token.rfind('.');
  std::string forged = token.substr(0, a + 1) +
                       B64(R"({"sub":"bob","exp":1900000000})") +
                       token.substr(b);
  EXPECT_FALSE(authority.Verify(forged, kNow).ok());
}

// Signs header.payload with HMAC-SHA256 like a third-party issuer would.
std::string SignHs256(absl::string_view header, absl::string_view payload,
                      const std::string& key = std::string(32, 'k')) {
  std::string signing_input = absl::StrCat(B64(header), ".", B64(payload));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(signing_input.data()),
            signing_input.size(), mac, sizeof(mac), &mac_len);
  return absl::StrCat(
      signing_input, ".",
      B64(absl::string_view(reinterpret_cast<const char*>(mac), mac_len)));
}

constexpr char kHs256[] = R"({"alg":"HS256","typ":"JWT"})";

TEST(TokensTest, AThirdPartyHs256TokenIsAccepted) {
  auto claims = Hs256().Verify(
      SignHs256(kHs256, R"({"sub":"carol","exp":1900000000,"channels":["x"]})"),
      kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->user_id, "carol");
}

TEST(TokensTest, SignedTokensWithoutRequiredClaimsAreRefused) {
  TokenAuthority authority = Hs256();
  struct Case {
    const char* payload;
    const char* reason;
  } cases[] = {
      {R"({"sub":"a"})", "no exp"},
      {R"({"exp":1900000000})", "bad sub"},
      {R"({"sub":"a b","exp":1900000000})", "bad sub"},
      {R"({"sub":"a","exp":"soon"})", "malformed time"},
      {R"({"sub":"a","exp":1900000000,"nbf":1850000000})", "not yet valid"},
      {R"({"sub":"a","exp":1900000000,"channels":"news"})", "bad channels"},
  };
  for (const Case& c : cases) {
    auto claims = authority.Verify(SignHs256(kHs256, c.payload), kNow);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated)
        << c.payload;
    EXPECT_THAT(claims.status().message(), HasSubstr(c.reason)) << c.payload;
  }
}

TEST(TokensTest, AnotherHmacAlgorithmIsRefusedEvenWithTheRightKey) {
  auto claims = Hs256().Verify(
      SignHs256(R"({"alg":"HS384"})", R"({"sub":"a","exp":1900000000})"), kNow);
  EXPECT_THAT(claims.status().message(), HasSubstr("wrong algorithm"));
}

TEST(TokensTest, MalformedTokensAreRefused) {
  EXPECT_FALSE(Hs256().Verify("a.b", kNow).ok());
  EXPECT_FALSE(Hs256().Verify("", kNow).ok());
  EXPECT_FALSE(Hs256().Verify("!!.??.##", kNow).ok());
  EXPECT_FALSE(Hs256().Verify(std::string(kMaxTokenBytes + 1, 'a'), kNow).ok());
}

TEST(TokensTest, IssuerAndAudienceAreCheckedWhenConfigured) {
  TokenConfig config;
  config.key = std::string(32, 'k');
  config.issuer = "notifyd";
  config.audience = "inbox";
  TokenAuthority strict = *TokenAuthority::Create(config);
  auto good = strict.Issue("a", {}, absl::Minutes(1), kNow);
  EXPECT_TRUE(strict.Verify(good->first, kNow).ok());
  // A token from an authority with the same key but no iss/aud.
  auto plain = Hs256().Issue("a", {}, absl::Minutes(1), kNow);
  EXPECT_FALSE(strict.Verify(plain->first, kNow).ok());
}

TEST(TokensTest, ShortHmacKeysAndUnknownAlgorithmsAreRejectedAtStart) {
  TokenConfig short_key;
  short_key.key = "short";
  EXPECT_FALSE(TokenAuthority::Create(short_key).ok());
  TokenConfig bad_alg;
  bad_alg.algorithm = "none";
  bad_alg.key = std::string(32, 'k');
  EXPECT_FALSE(TokenAuthority::Create(bad_alg).ok());
}

}  // namespace
}  // namespace notifyd::server
