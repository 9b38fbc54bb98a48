#include "common/log_limiter.h"

#include "absl/strings/str_cat.h"

namespace notifyd {

LogLimiter::LogLimiter(int burst, absl::Duration interval)
    : burst_(burst), interval_(interval) {}

bool LogLimiter::Allow(uint64_t* dropped, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (now - window_start_ >= interval_) {
    window_start_ = now;
    passed_in_window_ = 0;
  }
  if (passed_in_window_ >= burst_) {
    ++dropped_;
    return false;
  }
  ++passed_in_window_;
  *dropped = dropped_;
  dropped_ = 0;
  return true;
}

std::string LogLimiter::DroppedNote(uint64_t dropped) {
  if (dropped == 0) return "";
  return absl::StrCat(" (", dropped, " similar lines dropped)");
}

}  // namespace notifyd
