#include "storage/store_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace notifyd::storage {

absl::Status StoreOptions::Validate() const {
  auto invalid = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("store: ", what));
  };
  if (retention < absl::ZeroDuration()) return invalid("retention < 0");
  if ((retention > absl::ZeroDuration() || max_per_channel > 0) &&
      prune_interval <= absl::ZeroDuration()) {
    return invalid("prune_interval must be > 0 when pruning");
  }
  if (expiry_interval <= absl::ZeroDuration()) {
    return invalid("expiry_interval must be > 0");
  }
  if (prune_batch < 1) return invalid("prune_batch must be >= 1");
  if (readers < 1) return invalid("readers must be >= 1");
  if (max_batch < 1) return invalid("max_batch must be >= 1");
  if (commit_delay < absl::ZeroDuration()) return invalid("commit_delay < 0");
  if (commit_delay_batch < 1) return invalid("commit_delay_batch must be >= 1");
  if (max_push_subscriptions < 1) {
    return invalid("max_push_subscriptions must be >= 1");
  }
  return absl::OkStatus();
}

int64_t StoreOptions::NowMs() const {
  return now_ms ? now_ms() : absl::ToUnixMillis(absl::Now());
}

}  // namespace notifyd::storage
