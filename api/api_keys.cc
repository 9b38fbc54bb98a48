#include "api/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/flag_file.h"
#include "common/names.h"

namespace notifyd::api {
namespace {

constexpr size_t kMaxNameBytes = 64;
constexpr absl::string_view kBearer = "bearer ";

bool IsValidName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxNameBytes &&
         FirstInvalidByte(name, "._-") == absl::string_view::npos;
}

}  // namespace

ApiKeySet::Digest ApiKeySet::Sha256(absl::string_view data) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest.data());
  return digest;
}

absl::StatusOr<ApiKeySet> ApiKeySet::Parse(absl::string_view text,
                                           absl::string_view source) {
  ApiKeySet set;
  std::set<std::string> names;
  std::set<Digest> digests;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return absl::StrCat(source, ":", line_number, ": "); };
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "expected name:key"));
    }
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (!IsValidName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "name must be 1-", kMaxNameBytes,
                       " bytes of [A-Za-z0-9._-]"));
    }
    if (key.size() < kMinApiKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "key of ", name, " is shorter than ",
                       kMinApiKeyBytes, " bytes"));
    }
    if (!names.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "name ", name, " appears twice"));
    }
    Digest digest = Sha256(key);
    // Two names sharing a key could not be told apart in logs.
    if (!digests.insert(digest).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "key of ", name, " is also another name's key"));
    }
    set.entries_.push_back(Entry{std::string(name), digest});
  }
  return set;
}

absl::StatusOr<ApiKeySet> ApiKeySet::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile("api_keys_file", path);
  if (!text.ok()) return text.status();
  absl::StatusOr<ApiKeySet> set = Parse(*text, path);
  if (set.ok() && set->size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--api_keys_file=", path, " holds no name:key line"));
  }
  return set;
}

absl::StatusOr<std::string> ApiKeySet::Authenticate(
    absl::string_view authorization) const {
  if (authorization.size() <= kBearer.size() ||
      !absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return absl::UnauthenticatedError(kInvalidApiKeyMessage);
  }
  Digest presented =
      Sha256(absl::StripAsciiWhitespace(authorization.substr(kBearer.size())));
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    // Every entry is compared, so timing does not tell which one matched.
    bool equal = CRYPTO_memcmp(presented.data(), entry.digest.data(),
                               presented.size()) == 0;
    if (equal) match = &entry;
  }
  if (match == nullptr) {
    return absl::UnauthenticatedError(kInvalidApiKeyMessage);
  }
  return match->name;
}

}  // namespace notifyd::api
