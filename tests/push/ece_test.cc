// RFC 8291 message encryption: the RFC's own example byte for byte, round
// trips, and what happens to bad keys and oversize payloads.
#include "push/ece.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"

namespace notifyd::push {
namespace {

using ::testing::HasSubstr;

std::string Unbase64Url(const std::string& text) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(text, &out)) << text;
  return out;
}

// RFC 8291 Appendix A.
struct Rfc8291Example {
  std::string plaintext = "When I grow up, I want to be a watermelon";
  std::string as_private =
      Unbase64Url("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
  std::string as_public = Unbase64Url(
      "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8"
      "wEqKK6PBru3jl7A8");
  std::string ua_private =
      Unbase64Url("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94");
  std::string ua_public = Unbase64Url(
      "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8p"
      "ZGH6SRpkNtoIAiw4");
  std::string salt = Unbase64Url("DGv6ra1nlYgDCS1FRnbzlw");
  std::string auth_secret = Unbase64Url("BTBZMqHH6r4Tts7J_aSIgg");
  std::string body = Unbase64Url(
      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZII"
      "gDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztL"
      "VBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
};

TEST(EceTest, ReproducesRfc8291AppendixAByteForByte) {
  Rfc8291Example rfc;
  absl::StatusOr<std::string> body =
      EncryptWith(rfc.plaintext, rfc.ua_public, rfc.auth_secret,
                  EceSenderKeys{rfc.as_private, rfc.salt});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(absl::WebSafeBase64Escape(*body),
            absl::WebSafeBase64Escape(rfc.body));
}

TEST(EceTest, TheRfcKeysAreConsistent) {
  Rfc8291Example rfc;
  EXPECT_EQ(P256PublicFromPrivate(rfc.as_private).value(), rfc.as_public);
  EXPECT_EQ(P256PublicFromPrivate(rfc.ua_private).value(), rfc.ua_public);
}

TEST(EceTest, DecryptsTheRfcExampleAsABrowserWould) {
  Rfc8291Example rfc;
  absl::StatusOr<std::string> plaintext =
      Decrypt(rfc.body, rfc.ua_private, rfc.auth_secret);
  ASSERT_TRUE(plaintext.ok()) << plaintext.status();
  EXPECT_EQ(*plaintext, rfc.plaintext);
}

TEST(EceTest, HeaderCarriesSaltRecordSizeAndTheEphemeralKey) {
  Rfc8291Example rfc;
  absl::StatusOr<std::string> body =
      Encrypt("hello", rfc.ua_public, rfc.auth_secret);
  ASSERT_TRUE(body.ok()) << body.status();
  ASSERT_EQ(body->size(), kEceHeaderBytes + 5 + 1 + 16);
  EXPECT_EQ(body->substr(16, 4), std::string("\x00\x00\x10\x00", 4));  // 4096
  EXPECT_EQ(static_cast<unsigned char>((*body)[20]), 65);
  EXPECT_EQ((*body)[21], 0x04);  // an uncompressed point
}

TEST(EceTest, EveryMessageHasAFreshKeyAndSalt) {
  Rfc8291Example rfc;
  std::string a = Encrypt("same", rfc.ua_public, rfc.auth_secret).value();
  std::string b = Encrypt("same", rfc.ua_public, rfc.auth_secret).value();
  EXPECT_NE(a.substr(0, 16), b.substr(0, 16));
  EXPECT_NE(a.substr(21, 65), b.substr(21, 65));
  EXPECT_EQ(Decrypt(a, rfc.ua_private, rfc.auth_secret).value(), "same");
  EXPECT_EQ(Decrypt(b, rfc.ua_private, rfc.auth_secret).value(), "same");
}

TEST(EceTest, RoundTripsEmptyBinaryAndTheLargestPayload) {
  Rfc8291Example rfc;
  const std::string binary("\x00\x02\x00\xff\x00", 5);
  for (const std::string& plaintext :
       {std::string(), binary, std::string(kMaxPlaintextBytes, 'x')}) {
    absl::StatusOr<std::string> body =
        Encrypt(plaintext, rfc.ua_public, rfc.auth_secret);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_LE(body->size(), kMaxBodyBytes);
    EXPECT_EQ(Decrypt(*body, rfc.ua_private, rfc.auth_secret).value(),
              plaintext);
  }
  EXPECT_EQ(Encrypt(std::string(kMaxPlaintextBytes, 'x'), rfc.ua_public,
                    rfc.auth_secret)
                ->size(),
            kMaxBodyBytes);
}

TEST(EceTest, RefusesAPayloadOneByteOverTheLimit) {
  Rfc8291Example rfc;
  absl::StatusOr<std::string> body = Encrypt(
      std::string(kMaxPlaintextBytes + 1, 'x'), rfc.ua_public, rfc.auth_secret);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(body.status().message(), HasSubstr("3993"));
}

TEST(EceTest, RefusesKeysOfTheWrongLength) {
  Rfc8291Example rfc;
  EXPECT_EQ(Encrypt("x", rfc.ua_public.substr(0, 64), rfc.auth_secret)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Encrypt("x", rfc.ua_public, rfc.auth_secret.substr(0, 15))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A compressed point (33 bytes) is not what browsers send.
  EXPECT_EQ(Encrypt("x", std::string("\x02") + rfc.ua_public.substr(1, 32),
                    rfc.auth_secret)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EceTest, RefusesAPointNotOnTheCurve) {
  Rfc8291Example rfc;
  std::string off_curve = rfc.ua_public;
  off_curve.back() ^= 1;  // same X, wrong Y
  absl::StatusOr<std::string> body = Encrypt("x", off_curve, rfc.auth_secret);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(body.status().message(), HasSubstr("not on the curve"));
}

TEST(EceTest, DecryptRefusesTheWrongSecretAndAlteredBodies) {
  Rfc8291Example rfc;
  std::string wrong_auth = rfc.auth_secret;
  wrong_auth[0] ^= 1;
  EXPECT_EQ(Decrypt(rfc.body, rfc.ua_private, wrong_auth).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string altered = rfc.body;
  altered.back() ^= 1;
  EXPECT_EQ(Decrypt(altered, rfc.ua_private, rfc.auth_secret).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decrypt(rfc.body.substr(0, 30), rfc.ua_private, rfc.auth_secret)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace notifyd::push
