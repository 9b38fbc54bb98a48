// VAPID (RFC 8292): the key file and its errors, the ES256 JWT checked
// independently with OpenSSL, the Authorization header and its cache.
#include "push/vapid.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace notifyd::push {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Unbase64Url(absl::string_view text) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(text, &out)) << text;
  return out;
}

std::string Pem(EVP_PKEY* key, bool public_only,
                const EVP_CIPHER* cipher = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  char passphrase[] = "secret";
  if (public_only) {
    PEM_write_bio_PUBKEY(bio, key);
  } else {
    PEM_write_bio_PrivateKey(bio, key, cipher,
                             reinterpret_cast<unsigned char*>(passphrase),
                             cipher ? 6 : 0, nullptr, nullptr);
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  return pem;
}

// Verifies an ES256 JOSE signature (r || s) of `input` with OpenSSL.
bool VerifyEs256(const std::string& public_point, absl::string_view input,
                 const std::string& signature) {
  if (signature.size() != 64) return false;
  absl::StatusOr<PkeyPtr> key = P256PublicKey(public_point);
  if (!key.ok()) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr),
                 BN_bin2bn(raw + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key->get()) ==
          1 &&
      EVP_DigestVerify(ctx, der, static_cast<size_t>(der_length),
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

TEST(VapidKeyTest, PemRoundTripKeepsTheKey) {
  VapidKey key = VapidKey::Generate().value();
  std::string pem = key.ToPem().value();
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----"));
  VapidKey again = VapidKey::FromPem(pem).value();
  EXPECT_EQ(again.public_key(), key.public_key());
  EXPECT_EQ(key.public_key().size(), 65u);
  EXPECT_EQ(key.public_key()[0], 0x04);
  EXPECT_EQ(Unbase64Url(key.public_key_base64url()), key.public_key());
  EXPECT_FALSE(absl::StrContains(key.public_key_base64url(), "="));
}

TEST(VapidKeyTest, ReadsTheSec1FormOpensslEcparamWrites) {
  PkeyPtr pkey = GenerateP256Key().value();
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio, pkey.get(), nullptr,
                                                 nullptr, 0, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  ASSERT_THAT(pem, StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  absl::StatusOr<VapidKey> key = VapidKey::FromPem(pem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->public_key(), P256Point(pkey.get()).value());
}

TEST(VapidKeyTest, RefusesAPublicKeyOnly) {
  PkeyPtr pkey = GenerateP256Key().value();
  absl::StatusOr<VapidKey> key = VapidKey::FromPem(Pem(pkey.get(), true));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("only a public key"));
}

TEST(VapidKeyTest, RefusesOtherCurvesAndKeyTypes) {
  PkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  absl::StatusOr<VapidKey> key = VapidKey::FromPem(Pem(p384.get(), false));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("another elliptic curve"));
  PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  key = VapidKey::FromPem(Pem(rsa.get(), false));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("a RSA key"));
}

TEST(VapidKeyTest, RefusesAnEncryptedKeyWithoutPrompting) {
  PkeyPtr pkey = GenerateP256Key().value();
  absl::StatusOr<VapidKey> key =
      VapidKey::FromPem(Pem(pkey.get(), false, EVP_aes_128_cbc()));
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("encrypted"));
}

TEST(VapidKeyTest, RefusesTextThatIsNoKey) {
  for (const char* text : {"", "hello",
                           "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                           "-----END PRIVATE KEY-----\n"}) {
    absl::StatusOr<VapidKey> key = VapidKey::FromPem(text);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(key.status().message(), HasSubstr("no PEM private key"));
  }
}

TEST(VapidKeyTest, FileErrorsNameTheFlagAndPath) {
  absl::StatusOr<VapidKey> key =
      VapidKey::FromFile("/nonexistent/notifyd/vapid.pem");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(),
              HasSubstr("--vapid_key_file=/nonexistent/notifyd/vapid.pem"));
}

TEST(VapidJwtTest, IsAnEs256JwtThatOpensslVerifies) {
  VapidKey key = VapidKey::Generate().value();
  const absl::Time expires = absl::FromUnixSeconds(1'900'000'000);
  std::string jwt = MakeVapidJwt(key, "https://push.example.net",
                                 "mailto:ops@example.com", expires)
                        .value();
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  ASSERT_EQ(parts.size(), 3u);
  boost::json::value header = boost::json::parse(Unbase64Url(parts[0]));
  EXPECT_EQ(header.at("alg").as_string(), "ES256");
  EXPECT_EQ(header.at("typ").as_string(), "JWT");
  boost::json::value claims = boost::json::parse(Unbase64Url(parts[1]));
  EXPECT_EQ(claims.at("aud").as_string(), "https://push.example.net");
  EXPECT_EQ(claims.at("sub").as_string(), "mailto:ops@example.com");
  EXPECT_EQ(claims.at("exp").to_number<int64_t>(), 1'900'000'000);
  const std::string signature = Unbase64Url(parts[2]);
  EXPECT_EQ(signature.size(), 64u);  // JOSE r || s, not DER
  EXPECT_TRUE(VerifyEs256(key.public_key(),
                          absl::StrCat(parts[0], ".", parts[1]), signature));
  // ...and the check can fail: another key, or other claims.
  VapidKey other = VapidKey::Generate().value();
  EXPECT_FALSE(VerifyEs256(other.public_key(),
                           absl::StrCat(parts[0], ".", parts[1]), signature));
  EXPECT_FALSE(
      VerifyEs256(key.public_key(), absl::StrCat(parts[0], ".x"), signature));
}

TEST(VapidSubjectTest, TakesMailtoAndHttpsUrls) {
  EXPECT_TRUE(ValidateVapidSubject("mailto:ops@example.com").ok());
  EXPECT_TRUE(ValidateVapidSubject("https://example.com/contact").ok());
}

TEST(VapidSubjectTest, RefusesAnythingElse) {
  for (const std::string& subject :
       {std::string(), std::string("ops@example.com"), std::string("mailto:"),
        std::string("mailto:@example.com"), std::string("mailto:ops@"),
        std::string("http://example.com"), std::string("https://"),
        std::string("mailto:ops@example.com x"), std::string("mailto:a\n@b"),
        "mailto:ops@" + std::string(kMaxVapidSubjectBytes, 'e') + ".com"}) {
    absl::Status status = ValidateVapidSubject(subject);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << subject;
    EXPECT_THAT(status.message(), HasSubstr("--vapid_subject")) << subject;
  }
}

class VapidSignerTest : public ::testing::Test {
 protected:
  std::unique_ptr<VapidSigner> Signer() {
    return VapidSigner::Create(key_, "mailto:ops@example.com",
                               [this] { return now_; })
        .value();
  }
  static boost::json::value ClaimsOf(const std::string& header) {
    // "vapid t=<header>.<claims>.<signature>, k=<key>"
    std::vector<std::string> parts = absl::StrSplit(header, '.');
    return boost::json::parse(Unbase64Url(parts[1]));
  }

  VapidKey key_ = VapidKey::Generate().value();
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(VapidSignerTest, HeaderCarriesTheJwtAndThePublicKey) {
  std::string header =
      Signer()->Authorization("https://push.example.net").value();
  EXPECT_THAT(header, StartsWith("vapid t=ey"));
  EXPECT_TRUE(
      absl::EndsWith(header, absl::StrCat(", k=", key_.public_key_base64url())))
      << header;
  boost::json::value claims = ClaimsOf(header);
  EXPECT_EQ(claims.at("aud").as_string(), "https://push.example.net");
  EXPECT_EQ(claims.at("exp").to_number<int64_t>(),
            absl::ToUnixSeconds(now_ + absl::Hours(12)));
}

TEST_F(VapidSignerTest, ReusesAHeaderPerAudienceUntilNearExpiry) {
  auto signer = Signer();
  std::string a = signer->Authorization("https://a.example").value();
  std::string b = signer->Authorization("https://b.example").value();
  EXPECT_NE(a, b);
  now_ += absl::Hours(10);
  EXPECT_EQ(signer->Authorization("https://a.example").value(), a);
  now_ += absl::Hours(1) + absl::Seconds(1);  // within an hour of exp
  std::string renewed = signer->Authorization("https://a.example").value();
  EXPECT_NE(renewed, a);
  EXPECT_EQ(ClaimsOf(renewed).at("exp").to_number<int64_t>(),
            absl::ToUnixSeconds(now_ + absl::Hours(12)));
}

TEST_F(VapidSignerTest, HoldsAtMostTheCacheLimit) {
  auto signer = Signer();
  for (size_t i = 0; i < VapidSigner::kMaxCachedAudiences + 10; ++i) {
    ASSERT_TRUE(
        signer->Authorization(absl::StrCat("https://h", i, ".example")).ok());
    EXPECT_LE(signer->cached(), VapidSigner::kMaxCachedAudiences);
  }
  EXPECT_GT(signer->cached(), 0u);
}

TEST_F(VapidSignerTest, RefusesAnInvalidSubject) {
  EXPECT_EQ(VapidSigner::Create(key_, "ops@example.com").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace notifyd::push
