#include "push/p256.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace notifyd::push {
namespace {

using GroupPtr = OpenSslPtr<EC_GROUP, EC_GROUP_free>;
using PointPtr = OpenSslPtr<EC_POINT, EC_POINT_free>;
using BnPtr = OpenSslPtr<BIGNUM, BN_free>;

constexpr char kGroupName[] = "prime256v1";

GroupPtr P256Group() {
  return GroupPtr(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
}

// The uncompressed encoding of `point` on `group`.
absl::StatusOr<std::string> Uncompressed(const EC_GROUP* group,
                                         const EC_POINT* point) {
  std::string out(kP256PointBytes, '\0');
  if (EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED,
                         reinterpret_cast<unsigned char*>(out.data()),
                         out.size(), nullptr) != out.size()) {
    return OpenSslError("encoding a P-256 point");
  }
  return out;
}

// Builds a key from OSSL_PARAMs: the group, `point` and, when given,
// the private scalar.
absl::StatusOr<PkeyPtr> FromData(absl::string_view point,
                                 const BIGNUM* private_scalar) {
  OpenSslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                       kGroupName, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                        point.data(), point.size()) ||
      (private_scalar != nullptr &&
       !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY,
                               private_scalar))) {
    return OpenSslError("building P-256 key parameters");
  }
  OpenSslPtr<OSSL_PARAM, OSSL_PARAM_free> params(
      OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(
          ctx.get(), &raw,
          private_scalar != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
          params.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a valid P-256 key");
  }
  return PkeyPtr(raw);
}

}  // namespace

absl::Status OpenSslError(absl::string_view what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  return absl::InternalError(absl::StrCat(what, ": ", text));
}

absl::StatusOr<PkeyPtr> GenerateP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpenSslError("generating a P-256 key");
  return key;
}

absl::StatusOr<PkeyPtr> P256PublicKey(absl::string_view point) {
  if (point.size() != kP256PointBytes || point[0] != 0x04) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a P-256 public key is an uncompressed point of ", kP256PointBytes,
        " bytes starting with 0x04; got ", point.size(), " bytes"));
  }
  // Decoding checks that the point is on the curve; the public check adds
  // that it is not the point at infinity and is in the right subgroup.
  absl::StatusOr<PkeyPtr> key = FromData(point, nullptr);
  if (!key.ok()) {
    return absl::InvalidArgumentError("the P-256 point is not on the curve");
  }
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the P-256 point is not on the curve");
  }
  return key;
}

absl::StatusOr<PkeyPtr> P256PrivateKey(absl::string_view scalar) {
  if (scalar.size() != kP256ScalarBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a P-256 private key is ", kP256ScalarBytes,
                     " bytes; got ", scalar.size()));
  }
  GroupPtr group = P256Group();
  OpenSslPtr<BN_CTX, BN_CTX_free> bn_ctx(BN_CTX_new());
  BnPtr d(BN_bin2bn(reinterpret_cast<const unsigned char*>(scalar.data()),
                    static_cast<int>(scalar.size()), nullptr));
  PointPtr point(group ? EC_POINT_new(group.get()) : nullptr);
  if (!group || !bn_ctx || !d || !point) {
    return OpenSslError("preparing a P-256 key");
  }
  if (BN_is_zero(d.get()) ||
      BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return absl::InvalidArgumentError(
        "a P-256 private key must be between 1 and the group order - 1");
  }
  if (EC_POINT_mul(group.get(), point.get(), d.get(), nullptr, nullptr,
                   bn_ctx.get()) != 1) {
    return OpenSslError("computing a P-256 public key");
  }
  absl::StatusOr<std::string> encoded = Uncompressed(group.get(), point.get());
  if (!encoded.ok()) return encoded.status();
  return FromData(*encoded, d.get());
}

bool IsP256(EVP_PKEY* key) {
  if (key == nullptr || !EVP_PKEY_is_a(key, "EC")) return false;
  char name[64] = {};
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name,
                                     sizeof(name), &length) != 1) {
    ERR_clear_error();
    return false;
  }
  return absl::string_view(name, length) == kGroupName;
}

absl::StatusOr<std::string> P256Point(EVP_PKEY* key) {
  if (!IsP256(key)) return absl::InvalidArgumentError("not a P-256 key");
  // The key may hold its point compressed: decode and re-encode.
  unsigned char buffer[kP256PointBytes] = {};
  size_t length = 0;
  GroupPtr group = P256Group();
  PointPtr point(group ? EC_POINT_new(group.get()) : nullptr);
  if (!point ||
      EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buffer,
                                      sizeof(buffer), &length) != 1 ||
      EC_POINT_oct2point(group.get(), point.get(), buffer, length, nullptr) !=
          1) {
    return OpenSslError("reading a P-256 public key");
  }
  return Uncompressed(group.get(), point.get());
}

absl::StatusOr<std::string> P256Ecdh(EVP_PKEY* own, EVP_PKEY* peer) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  size_t length = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1) {
    return OpenSslError("ECDH");
  }
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(),
                      reinterpret_cast<unsigned char*>(secret.data()),
                      &length) != 1) {
    return OpenSslError("ECDH");
  }
  secret.resize(length);
  return secret;
}

}  // namespace notifyd::push
