// Voluntary Application Server Identification (VAPID, RFC 8292): the
// server's P-256 key (--vapid_key_file, made by `notifyctl vapid-keygen`),
// the public half browsers need as `applicationServerKey`, and the
// `Authorization: vapid t=<JWT>, k=<public key>` header every push request
// carries. The JWT is ES256 (signature in JOSE form: r || s, 32 bytes each,
// not DER) with claims `aud` (the push service's origin), `exp` (12 hours
// ahead; RFC 8292 allows at most 24) and `sub` (the operator's contact,
// a mailto: or https: URL).
//
// VapidKey is immutable: thread-safe, cheap to copy (the OpenSSL key is
// shared). VapidSigner is thread-safe.
#ifndef NOTIFYD_PUSH_VAPID_H_
#define NOTIFYD_PUSH_VAPID_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "push/p256.h"

namespace notifyd::push {

// Longest accepted `sub`.
inline constexpr size_t kMaxVapidSubjectBytes = 256;

class VapidKey {
 public:
  // Parses a PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE
  // KEY"). INVALID_ARGUMENT, saying which, when the text holds only a
  // public key, an encrypted key, no PEM key at all, or a key that is not
  // EC P-256.
  static absl::StatusOr<VapidKey> FromPem(absl::string_view pem);
  // FromPem of the file's contents; errors name --vapid_key_file=<path>
  // (missing or unreadable file included).
  static absl::StatusOr<VapidKey> FromFile(const std::string& path);
  // A new random key.
  static absl::StatusOr<VapidKey> Generate();

  // The private key as PKCS#8 PEM, unencrypted: what FromPem reads.
  absl::StatusOr<std::string> ToPem() const;
  // The uncompressed public point (65 bytes).
  const std::string& public_key() const { return public_key_; }
  // The same, base64url without padding: the applicationServerKey of
  // PushManager.subscribe() and the `k=` of the Authorization header.
  std::string public_key_base64url() const;

  // The ES256 signature of `input` in JOSE form (64 bytes: r || s).
  absl::StatusOr<std::string> SignEs256(absl::string_view input) const;

 private:
  VapidKey(std::shared_ptr<EVP_PKEY> key, std::string public_key)
      : key_(std::move(key)), public_key_(std::move(public_key)) {}
  static absl::StatusOr<VapidKey> FromPkey(PkeyPtr key);

  std::shared_ptr<EVP_PKEY> key_;
  std::string public_key_;
};

// OK when `subject` is a mailto: address ("mailto:ops@example.com") or an
// https: URL with a host, at most kMaxVapidSubjectBytes, without spaces or
// control characters; INVALID_ARGUMENT saying why otherwise.
absl::Status ValidateVapidSubject(absl::string_view subject);

// The signed JWT for `audience` (an origin, "https://host[:port]").
absl::StatusOr<std::string> MakeVapidJwt(const VapidKey& key,
                                         absl::string_view audience,
                                         absl::string_view subject,
                                         absl::Time expires);

// Makes Authorization headers and keeps them per audience until they come
// within kRefreshBefore of expiring, so a burst of pushes to one push
// service signs once. Holds at most kMaxCachedAudiences headers: when full,
// the stale ones are dropped, and all of them if none is stale.
class VapidSigner {
 public:
  static constexpr absl::Duration kValidity = absl::Hours(12);
  static constexpr absl::Duration kRefreshBefore = absl::Hours(1);
  static constexpr size_t kMaxCachedAudiences = 256;

  // `subject` must pass ValidateVapidSubject (checked here too). `clock`
  // gives the time claims (tests move it).
  static absl::StatusOr<std::unique_ptr<VapidSigner>> Create(
      VapidKey key, std::string subject,
      std::function<absl::Time()> clock = [] { return absl::Now(); });

  // "vapid t=<JWT>, k=<public key>" for `audience`, an origin.
  absl::StatusOr<std::string> Authorization(absl::string_view audience)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Headers held now.
  size_t cached() const ABSL_LOCKS_EXCLUDED(mu_);
  const VapidKey& key() const { return key_; }

 private:
  VapidSigner(VapidKey key, std::string subject,
              std::function<absl::Time()> clock)
      : key_(std::move(key)),
        subject_(std::move(subject)),
        clock_(std::move(clock)) {}

  struct Entry {
    std::string header;
    absl::Time expires;
  };

  const VapidKey key_;
  const std::string subject_;
  const std::function<absl::Time()> clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_VAPID_H_
