#include "storage/push.h"

#include "absl/strings/str_cat.h"
#include "storage/inbox.h"
#include "storage/store.h"

namespace notifyd::storage {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("push: ", what));
}

absl::Status CheckEndpoint(const std::string& endpoint) {
  if (endpoint.empty()) return Invalid("an endpoint is required");
  if (endpoint.size() > kMaxPushEndpointBytes) {
    return Invalid(absl::StrCat("an endpoint has at most ",
                                kMaxPushEndpointBytes, " bytes, not ",
                                endpoint.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckPushSubscription(const PushSubscription& subscription) {
  if (!IsInbox(subscription.channel)) {
    return Invalid(absl::StrCat("subscriptions belong to inboxes (",
                                kInboxPrefix, " channels)"));
  }
  if (absl::Status s = CheckEndpoint(subscription.endpoint); !s.ok()) return s;
  auto sized = [](const std::string& value, size_t bytes,
                  absl::string_view name) -> absl::Status {
    if (value.size() == bytes) return absl::OkStatus();
    return Invalid(
        absl::StrCat(name, " has ", bytes, " bytes, not ", value.size()));
  };
  if (absl::Status s = sized(subscription.p256dh, kPushP256dhBytes, "p256dh");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = sized(subscription.auth, kPushAuthBytes, "auth");
      !s.ok()) {
    return s;
  }
  return sized(subscription.secret_sha256, kPushSecretHashBytes,
               "secret_sha256");
}

absl::Status CheckPushRemoval(const PushRemoval& removal) {
  if (!removal.channel.empty() && !IsInbox(removal.channel)) {
    return Invalid(absl::StrCat("subscriptions belong to inboxes (",
                                kInboxPrefix, " channels)"));
  }
  return CheckEndpoint(removal.endpoint);
}

absl::Status CheckMarkPushed(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return Invalid("mark pushed names at least one id");
  if (ids.size() > kMaxChangeIds) {
    return Invalid(absl::StrCat("mark pushed names at most ", kMaxChangeIds,
                                " ids, not ", ids.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckPushCandidates(const PushCandidatesQuery& query) {
  if (query.limit > kMaxPushCandidates) {
    return Invalid(absl::StrCat("a candidates query reads at most ",
                                kMaxPushCandidates, " rows, not ",
                                query.limit));
  }
  return absl::OkStatus();
}

}  // namespace notifyd::storage
