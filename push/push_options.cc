#include "push/push_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "push/vapid.h"

namespace notifyd::push {

absl::Status PushOptions::Validate() const {
  auto invalid = [](absl::string_view flag, absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("--push_", flag, " must be ", rule));
  };
  if (threads < 1 || threads > 16) return invalid("threads", "1 to 16");
  if (max_queue < 1 || max_queue > 1'000'000) {
    return invalid("max_queue", "1 to 1000000");
  }
  if (max_in_flight < 1 || max_in_flight > 10'000) {
    return invalid("max_in_flight", "1 to 10000");
  }
  if (max_attempts < 1 || max_attempts > 20) {
    return invalid("max_attempts", "1 to 20");
  }
  if (backoff_base <= absl::ZeroDuration()) {
    return invalid("backoff_base", "> 0");
  }
  if (backoff_cap < backoff_base) {
    return invalid("backoff_cap", ">= --push_backoff_base");
  }
  if (connect_timeout <= absl::ZeroDuration()) {
    return invalid("connect_timeout", "> 0");
  }
  if (request_timeout <= absl::ZeroDuration()) {
    return invalid("request_timeout", "> 0");
  }
  if (idle_timeout < absl::ZeroDuration()) {
    return invalid("idle_timeout", ">= 0");
  }
  return ValidateVapidSubject(vapid_subject);
}

}  // namespace notifyd::push
