// Publisher API keys (docs/DESIGN.md, Security): services calling the Notifier
// API present `authorization: Bearer <key>`; the key maps to a caller name that
// appears in logs and metrics, never the key itself.
//
// The keys file holds one `name:key` per line; blank lines and lines
// starting with '#' are ignored. Keys are at least kMinApiKeyBytes long so
// they cannot be guessed, names are [A-Za-z0-9._-]{1,64} so they are safe as
// metric labels, and both must be unique.
//
// Only SHA-256 digests of the keys are kept. A presented key is hashed and
// compared against every stored digest with CRYPTO_memcmp, without stopping
// at a match: the time taken depends neither on how much of a key matched,
// nor on its length, nor on which entry matched.
//
// ApiKeySet is immutable after construction: thread-safe.
#ifndef NOTIFYD_API_API_KEYS_H_
#define NOTIFYD_API_API_KEYS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::api {

inline constexpr size_t kMinApiKeyBytes = 16;

// The message of every authentication failure, whatever the reason, so a
// caller learns nothing about which part was wrong.
inline constexpr char kInvalidApiKeyMessage[] = "missing or invalid API key";

class ApiKeySet {
 public:
  // Parses the file's text; INVALID_ARGUMENT names the line at fault (never
  // the key). `source` names the file in messages.
  static absl::StatusOr<ApiKeySet> Parse(absl::string_view text,
                                         absl::string_view source);
  // Reads and parses `path`; an unreadable file is INVALID_ARGUMENT naming
  // it. A file without keys is refused: it would lock every caller out.
  static absl::StatusOr<ApiKeySet> Load(const std::string& path);

  // The caller name for the value of an `authorization` header
  // ("Bearer <key>"; the scheme is case-insensitive), or UNAUTHENTICATED
  // kInvalidApiKeyMessage.
  absl::StatusOr<std::string> Authenticate(
      absl::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  using Digest = std::array<uint8_t, 32>;
  struct Entry {
    std::string name;
    Digest digest;
  };
  static Digest Sha256(absl::string_view data);

  ApiKeySet() = default;
  std::vector<Entry> entries_;
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_API_KEYS_H_
