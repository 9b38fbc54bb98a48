// P-256 keys as OpenSSL 3 EVP_PKEYs, made from and turned into the raw
// forms Web Push uses (RFC 8291, RFC 8292): public keys as uncompressed
// points (65 bytes, 0x04 || X || Y), private keys as 32-byte big-endian
// scalars. Shared by ece.cc and vapid.cc.
//
// Functions are thread-safe; an EVP_PKEY they return is owned by the
// caller (PkeyPtr) and may be used from several threads for signing and
// deriving (OpenSSL 3 keys are immutable once built).
#ifndef NOTIFYD_PUSH_P256_H_
#define NOTIFYD_PUSH_P256_H_

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::push {

inline constexpr size_t kP256PointBytes = 65;   // 0x04 || X || Y
inline constexpr size_t kP256ScalarBytes = 32;  // a private key

// An OpenSSL object owned by a unique_ptr that releases it with `Free`,
// e.g. OpenSslPtr<BIO, BIO_free>.
template <typename T, auto Free>
struct OpenSslFree {
  void operator()(T* object) const { Free(object); }
};
template <typename T, auto Free>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree<T, Free>>;

using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;

// INTERNAL "<what>: <OpenSSL's first queued error>", clearing the queue.
absl::Status OpenSslError(absl::string_view what);

// A fresh random P-256 key pair.
absl::StatusOr<PkeyPtr> GenerateP256Key();

// The public key of an uncompressed point; INVALID_ARGUMENT when it is not
// 65 bytes starting with 0x04, or not on the curve.
absl::StatusOr<PkeyPtr> P256PublicKey(absl::string_view point);

// The key pair of a private scalar (its public point computed);
// INVALID_ARGUMENT when it is not 32 bytes or not in [1, n-1].
absl::StatusOr<PkeyPtr> P256PrivateKey(absl::string_view scalar);

// Whether `key` is an EC key on P-256.
bool IsP256(EVP_PKEY* key);

// The uncompressed public point of a P-256 key (public or private).
absl::StatusOr<std::string> P256Point(EVP_PKEY* key);

// ECDH: the 32-byte shared secret (the X coordinate) of `own` (a private
// key) and `peer` (a public key).
absl::StatusOr<std::string> P256Ecdh(EVP_PKEY* own, EVP_PKEY* peer);

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_P256_H_
