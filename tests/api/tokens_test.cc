// Subscriber tokens: what is accepted, and every way a token is refused.
#include "api/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace notifyd::api {
namespace {

using ::testing::ElementsAre;
using ::testing::Gt;
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

TEST(TokensTest, TimeClaimsMustBeWholeNonNegativeSecondsInRange) {
  TokenAuthority authority = Hs256();
  struct Case {
    const char* payload;
    const char* reason;
  } cases[] = {
      // Each of these used to be cast to int64: undefined behaviour.
      {R"({"sub":"a","exp":1900000000,"nbf":1e300})", "nbf is out of range"},
      {R"({"sub":"a","exp":1e300})", "exp is out of range"},
      {R"({"sub":"a","exp":-1e300})", "exp is negative"},
      {R"({"sub":"a","exp":1900000000,"iat":1e19})", "iat is out of range"},
      {R"({"sub":"a","exp":99999999999999999999999})", "exp is out of range"},
      {R"({"sub":"a","exp":18446744073709551615})", "exp is out of range"},
      // In int64, but exp + clock skew would overflow.
      {R"({"sub":"a","exp":9223372036854775807})", "exp is out of range"},
      {R"({"sub":"a","exp":253402300800})", "exp is out of range"},
      {R"({"sub":"a","exp":1900000000.5})", "exp is not a whole number"},
      {R"({"sub":"a","exp":1900000000,"nbf":0.25})",
       "nbf is not a whole number"},
      {R"({"sub":"a","exp":1900000000,"iat":-1})", "iat is negative"},
      {R"({"sub":"a","exp":-5})", "exp is negative"},
      {R"({"sub":"a","exp":true})", "exp is not a number"},
      {R"({"sub":"a","exp":1900000000,"nbf":null})", "nbf is not a number"},
  };
  for (const Case& c : cases) {
    auto claims = authority.Verify(SignHs256(kHs256, c.payload), kNow);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated)
        << c.payload;
    EXPECT_THAT(claims.status().message(), HasSubstr("malformed time claim"))
        << c.payload;
    EXPECT_THAT(claims.status().message(), HasSubstr(c.reason)) << c.payload;
  }
}

TEST(TokensTest, WholeTimeClaimsInExponentNotationAreAccepted) {
  auto claims = Hs256().Verify(
      SignHs256(kHs256, R"({"sub":"a","exp":1.9e9,"iat":1.8e9,"nbf":0})"),
      kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->expires_at, 1'900'000'000);
}

TEST(TokensTest, OnlyBase64UrlSegmentsAndTwoDotsAreAccepted) {
  TokenAuthority authority = Hs256();
  const std::string token =
      authority.Issue("alice", {}, absl::Minutes(1), kNow)->first;
  ASSERT_TRUE(authority.Verify(token, kNow).ok());
  struct Case {
    std::string token;
    const char* reason;
  } cases[] = {
      // ?access_token=<valid>%00junk: libjwt would stop at the NUL.
      {token + std::string("\0junk", 5), "outside base64url"},
      {token + std::string(1, '\0'), "outside base64url"},
      {token + " junk", "outside base64url"},
      {token + " ", "outside base64url"},
      {" " + token, "outside base64url"},
      {token + "=", "outside base64url"},
      {token + "\n", "outside base64url"},
      {token.substr(0, 10) + " " + token.substr(10), "outside base64url"},
      {token + ".junk", "not three segments"},
      {token + ".", "not three segments"},
      {token.substr(0, token.rfind('.')), "not three segments"},
      {"..", "empty segment"},
  };
  for (const Case& c : cases) {
    auto claims = authority.Verify(c.token, kNow);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated)
        << absl::CEscape(c.token);
    EXPECT_THAT(claims.status().message(), HasSubstr(c.reason))
        << absl::CEscape(c.token);
  }
}

TEST(TokensTest, TokensOverTheLengthLimitAreRefusedEvenWhenSigned) {
  TokenAuthority authority = Hs256();
  auto padded = [](size_t pad) {
    return SignHs256(kHs256,
                     absl::StrCat(R"({"sub":"a","exp":1900000000,"pad":")",
                                  std::string(pad, 'p'), R"("})"));
  };
  std::string fits = padded(2500);
  ASSERT_LE(fits.size(), kMaxTokenBytes);
  EXPECT_TRUE(authority.Verify(fits, kNow).ok());
  std::string too_long = padded(3500);
  ASSERT_GT(too_long.size(), kMaxTokenBytes);
  auto claims = authority.Verify(too_long, kNow);
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(claims.status().message(), HasSubstr("too long"));
}

TEST(TokensTest, IssueRefusesChannelListsThatVerifyWouldRefuse) {
  TokenAuthority authority = Hs256();
  std::vector<std::string> channels;
  for (int i = 0; i < 5000; ++i) channels.push_back(absl::StrCat("room:", i));
  auto issued = authority.Issue("alice", channels, absl::Minutes(1), kNow);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(issued.status().message(), HasSubstr("channels"));
  EXPECT_THAT(issued.status().message(), HasSubstr("5000"));

  // One limit on both sides: every token Issue mints verifies, up to the
  // first channel list it refuses.
  channels.clear();
  for (;;) {
    channels.push_back(absl::StrCat("room:", channels.size()));
    issued = authority.Issue("alice", channels, absl::Minutes(1), kNow);
    if (!issued.ok()) break;
    ASSERT_TRUE(authority.Verify(issued->first, kNow).ok())
        << channels.size() << " channels, " << issued->first.size() << " bytes";
  }
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channels.size(), Gt(100u));  // the limit is not stingy
}

// ES256 keys made by OpenSSL, as PEM.
struct Es256Keys {
  std::string public_pem;
  std::string private_pem;
};

Es256Keys NewEs256Keys() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"),
                                                          &EVP_PKEY_free);
  EXPECT_NE(key, nullptr);
  auto pem = [&key](bool is_private) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                  &BIO_free);
    if (is_private) {
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(bio.get(), key.get());
    }
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
  };
  return {pem(false), pem(true)};
}

TokenAuthority Es256(const Es256Keys& keys) {
  TokenConfig config;
  config.algorithm = "ES256";
  config.key = keys.public_pem;
  config.private_key = keys.private_pem;
  auto authority = TokenAuthority::Create(config);
  EXPECT_TRUE(authority.ok()) << authority.status();
  return *std::move(authority);
}

using BnPtr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

// The order n of P-256.
BnPtr P256Order() {
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), &EC_GROUP_free);
  return BnPtr(BN_dup(EC_GROUP_get0_order(group.get())), &BN_free);
}

// S of an ES256 token's signature (R||S, 32 bytes each).
BnPtr SignatureS(const std::string& token) {
  std::string raw;
  EXPECT_TRUE(
      absl::WebSafeBase64Unescape(token.substr(token.rfind('.') + 1), &raw));
  EXPECT_EQ(raw.size(), 64u);
  return BnPtr(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32,
                nullptr),
      &BN_free);
}

// The same token with S replaced by n - S: the other signature OpenSSL
// accepts for the same message and key.
std::string HighSTwin(const std::string& token) {
  BnPtr n = P256Order();
  BnPtr s = SignatureS(token);
  BnPtr twin(BN_new(), &BN_free);
  BN_sub(twin.get(), n.get(), s.get());
  std::string raw;
  absl::WebSafeBase64Unescape(token.substr(token.rfind('.') + 1), &raw);
  BN_bn2binpad(twin.get(), reinterpret_cast<unsigned char*>(raw.data()) + 32,
               32);
  return token.substr(0, token.rfind('.') + 1) + absl::WebSafeBase64Escape(raw);
}

TEST(TokensTest, IssuedEs256TokensAreLowSAndVerify) {
  Es256Keys keys = NewEs256Keys();
  TokenAuthority authority = Es256(keys);
  BnPtr n = P256Order();
  BnPtr half(BN_new(), &BN_free);
  BN_rshift1(half.get(), n.get());
  // OpenSSL picks either S: a few dozen signatures make a high one all but
  // certain, which Issue must turn low.
  for (int i = 0; i < 32; ++i) {
    auto issued = authority.Issue("alice", {"news"}, absl::Minutes(1), kNow);
    ASSERT_TRUE(issued.ok()) << issued.status();
    EXPECT_LE(BN_cmp(SignatureS(issued->first).get(), half.get()), 0);
    auto claims = authority.Verify(issued->first, kNow);
    EXPECT_TRUE(claims.ok()) << claims.status();
  }
}

TEST(TokensTest, TheHighSTwinOfAValidEs256SignatureIsRefused) {
  TokenAuthority authority = Es256(NewEs256Keys());
  auto issued = authority.Issue("alice", {"news"}, absl::Minutes(1), kNow);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(authority.Verify(issued->first, kNow).ok());
  auto twin = authority.Verify(HighSTwin(issued->first), kNow);
  EXPECT_EQ(twin.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(twin.status().message(), HasSubstr("high S"));
  // The original is still fine afterwards.
  EXPECT_TRUE(authority.Verify(issued->first, kNow).ok());
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
}  // namespace notifyd::api
