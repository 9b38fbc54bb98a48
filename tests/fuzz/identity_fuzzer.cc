// Fuzzes Authenticate + Authorize with a toy verifier: the token
// "<user>|<grant>,<grant>" names an identity, anything else is refused.
// Properties: an accepted identity has a valid user id; the development
// identity exists only when enabled and no token was offered; Authorize
// never lets anyone read another user's channel, and without all_channels
// grants only what a grant (exact or prefix*) covers.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "edge/identity.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using notifyd::edge::Identity;

absl::StatusOr<Identity> ToyVerifier(absl::string_view token) {
  std::vector<std::string> parts = absl::StrSplit(token, '|');
  if (parts.size() != 2) return absl::UnauthenticatedError("bad token");
  Identity id;
  id.user = parts[0];
  id.channels = absl::StrSplit(parts[1], ',', absl::SkipEmpty());
  return id;
}

// Independent of identity.cc on purpose.
bool Granted(const std::vector<std::string>& grants, const std::string& c) {
  for (const std::string& g : grants) {
    if (g == c) return true;
    if (!g.empty() && g.back() == '*' &&
        c.compare(0, g.size() - 1, g, 0, g.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  notifyd::edge::IdentityOptions options;
  options.insecure_dev_identity = in.ConsumeBool();
  if (in.ConsumeBool()) options.verifier = ToyVerifier;
  std::string authorization = in.ConsumeRandomLengthString(256);
  std::string access_token = in.ConsumeRandomLengthString(256);
  std::string cookie = in.ConsumeRandomLengthString(256);
  std::string dev_user = in.ConsumeRandomLengthString(256);
  notifyd::edge::AuthInputs auth;
  auth.authorization = authorization;
  auth.access_token = access_token;
  auth.cookie = cookie;
  auth.dev_user = dev_user;
  auth.has_dev_user = in.ConsumeBool();
  std::vector<std::string> extra;
  while (in.remaining_bytes() > 0 && extra.size() < 16) {
    extra.push_back(in.ConsumeRandomLengthString(64));
  }

  absl::StatusOr<Identity> id = notifyd::edge::Authenticate(auth, options);
  if (!id.ok()) return 0;
  FUZZ_CHECK(notifyd::IsValidUserId(id->user));
  if (id->all_channels) {
    // Only the development identity reads any channel.
    FUZZ_CHECK(options.insecure_dev_identity && auth.has_dev_user);
    FUZZ_CHECK(id->user == dev_user);
  } else {
    FUZZ_CHECK(static_cast<bool>(options.verifier));
  }

  if (!notifyd::edge::Authorize(*id, extra).ok()) return 0;
  const std::string own = notifyd::UserChannel(id->user);
  for (const std::string& c : extra) {
    if (absl::StartsWith(c, "user:")) {
      FUZZ_CHECK(c == own);
    } else if (!id->all_channels) {
      FUZZ_CHECK(Granted(id->channels, c));
    }
  }
  return 0;
}
