// Message encryption for Web Push (RFC 8291) in the `aes128gcm` content
// coding (RFC 8188): what a push message body is, so that only the browser
// holding the subscription's private key and auth secret can read it.
//
// The body is one record: the header (salt, rs = 4096, idlen = 65, keyid =
// the sender's ephemeral P-256 public key), then the plaintext, the padding
// delimiter 0x02 and the 16-byte AES-128-GCM tag. A fresh ephemeral key and
// salt are drawn for every message; tests inject them (EceSenderKeys) to
// reproduce RFC 8291 Appendix A byte for byte.
//
// Keys are raw bytes, as a browser's PushSubscription gives them after
// base64url decoding: the user agent's public key is an uncompressed P-256
// point (65 bytes, 0x04 || X || Y), the auth secret 16 bytes.
//
// Pure functions over OpenSSL 3: thread-safe, no state. Errors are
// INVALID_ARGUMENT for bad input (wrong lengths, a point not on the curve,
// a plaintext over kMaxPlaintextBytes, a body that does not authenticate)
// and INTERNAL when OpenSSL fails for another reason.
#ifndef NOTIFYD_PUSH_ECE_H_
#define NOTIFYD_PUSH_ECE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "push/p256.h"

namespace notifyd::push {

inline constexpr size_t kAuthSecretBytes = 16;
inline constexpr size_t kSaltBytes = 16;
inline constexpr size_t kRecordSize = 4096;
// salt (16) + rs (4) + idlen (1) + keyid (65).
inline constexpr size_t kEceHeaderBytes = kSaltBytes + 4 + 1 + 65;
// Push services must accept bodies of 4096 bytes and may refuse larger ones
// (RFC 8030 section 7.2), so the whole body, header included, stays within
// 4096 bytes: 4096 - 86 (header) - 1 (delimiter) - 16 (tag) = 3993 bytes of
// plaintext (RFC 8291 section 4). The single record is then well within
// rs = 4096.
inline constexpr size_t kMaxBodyBytes = 4096;
inline constexpr size_t kMaxPlaintextBytes =
    kMaxBodyBytes - kEceHeaderBytes - 1 - 16;  // = 3993

// The sender's ephemeral key and salt, when a test fixes them.
struct EceSenderKeys {
  std::string private_key;  // kP256ScalarBytes, big-endian scalar
  std::string salt;         // kSaltBytes
};

// Encrypts `plaintext` for the subscription (ua_public_key, auth_secret)
// with a fresh ephemeral key and salt; returns the whole request body.
absl::StatusOr<std::string> Encrypt(absl::string_view plaintext,
                                    absl::string_view ua_public_key,
                                    absl::string_view auth_secret);

// The same with the ephemeral key and salt given (tests).
absl::StatusOr<std::string> EncryptWith(absl::string_view plaintext,
                                        absl::string_view ua_public_key,
                                        absl::string_view auth_secret,
                                        const EceSenderKeys& sender);

// What the browser does: decrypts a body made by Encrypt with the
// subscription's private key (kP256ScalarBytes) and auth secret.
// Accepts a single record of any valid rs, as browsers do; fails with
// INVALID_ARGUMENT when the body is malformed or does not authenticate.
absl::StatusOr<std::string> Decrypt(absl::string_view body,
                                    absl::string_view ua_private_key,
                                    absl::string_view auth_secret);

// The uncompressed public point of a P-256 private scalar (tests, and
// Decrypt's key derivation).
absl::StatusOr<std::string> P256PublicFromPrivate(
    absl::string_view private_key);

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_ECE_H_
