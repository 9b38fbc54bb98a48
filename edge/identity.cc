#include "edge/identity.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace notifyd::edge {

absl::string_view TokenFromCookie(absl::string_view cookie,
                                  absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(cookie, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return part;
    }
  }
  return {};
}

absl::StatusOr<Identity> Authenticate(const AuthInputs& in,
                                      const IdentityOptions& options) {
  absl::string_view token;
  absl::string_view auth = in.authorization;
  if (!auth.empty()) {
    if (!absl::ConsumePrefix(&auth, "Bearer ") &&
        !absl::ConsumePrefix(&auth, "bearer ")) {
      return absl::UnauthenticatedError("unsupported Authorization scheme");
    }
    token = absl::StripAsciiWhitespace(auth);
  } else if (!in.access_token.empty()) {
    token = in.access_token;
  } else {
    token = TokenFromCookie(in.cookie, options.cookie_name);
  }

  if (!token.empty()) {
    if (!options.verifier) {
      return absl::UnauthenticatedError("tokens are not accepted here");
    }
    absl::StatusOr<Identity> id = options.verifier(token);
    if (!id.ok()) {
      // Whatever the verifier says, the client only learns "401".
      return absl::UnauthenticatedError(id.status().message());
    }
    if (!IsValidUserId(id->user)) {
      return absl::UnauthenticatedError("token subject is not a valid user id");
    }
    return id;
  }

  if (in.has_dev_user && options.insecure_dev_identity) {
    if (!IsValidUserId(in.dev_user)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "user must be 1-", kMaxUserIdBytes, " bytes of ", kUserIdCharset));
    }
    return Identity{std::string(in.dev_user), {}, /*all_channels=*/true};
  }
  return absl::UnauthenticatedError("missing credentials");
}

absl::Status Authorize(const Identity& id,
                       const std::vector<std::string>& extra_channels) {
  const std::string own = UserChannel(id.user);
  for (const std::string& channel : extra_channels) {
    // User channels are never granted as extras, not even to the
    // development identity: only their owner reads them.
    if (absl::StartsWith(channel, kUserChannelPrefix)) {
      if (channel == own) continue;
      return absl::PermissionDeniedError(
          absl::StrCat("channel not allowed: ", channel));
    }
    if (!id.all_channels && !ChannelGranted(id.channels, channel)) {
      return absl::PermissionDeniedError(
          absl::StrCat("channel not allowed: ", channel));
    }
  }
  return absl::OkStatus();
}

}  // namespace notifyd::edge
