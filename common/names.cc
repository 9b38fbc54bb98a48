#include "common/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace notifyd {

size_t FirstInvalidByte(absl::string_view s, absl::string_view charset_extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        charset_extra.find(c) == absl::string_view::npos) {
      return i;
    }
  }
  return absl::string_view::npos;
}

bool IsValidUserId(absl::string_view user_id) {
  return !user_id.empty() && user_id.size() <= kMaxUserIdBytes &&
         FirstInvalidByte(user_id, kUserIdPunctuation) ==
             absl::string_view::npos;
}

bool IsValidChannelName(absl::string_view channel) {
  return !channel.empty() && channel.size() <= kMaxChannelBytes &&
         FirstInvalidByte(channel, kChannelPunctuation) ==
             absl::string_view::npos;
}

std::string UserChannel(absl::string_view user_id) {
  return absl::StrCat(kUserChannelPrefix, user_id);
}

bool ChannelGranted(const std::vector<std::string>& grants,
                    absl::string_view channel) {
  for (const std::string& grant : grants) {
    if (grant == channel) return true;
    if (grant.size() > 1 && grant.back() == '*' &&
        absl::StartsWith(
            channel, absl::string_view(grant).substr(0, grant.size() - 1))) {
      return true;
    }
  }
  return false;
}

}  // namespace notifyd
