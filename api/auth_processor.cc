#include "api/auth_processor.h"

#include <iterator>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"

namespace notifyd::api {
namespace {

// Services that stay open without a key, as ":path" prefixes.
constexpr absl::string_view kOpenServices[] = {
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
};

absl::string_view View(grpc::string_ref s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

ApiKeyAuthProcessor::ApiKeyAuthProcessor(std::shared_ptr<const ApiKeySet> keys,
                                         OnRejected on_rejected)
    : on_rejected_(std::move(on_rejected)), keys_(std::move(keys)) {}

void ApiKeyAuthProcessor::SetApiKeys(std::shared_ptr<const ApiKeySet> keys) {
  absl::MutexLock lock(&mu_);
  keys_ = std::move(keys);
}

bool ApiKeyAuthProcessor::NeedsApiKey(absl::string_view path) {
  for (absl::string_view open : kOpenServices) {
    if (absl::StartsWith(path, open)) return false;
  }
  return true;
}

grpc::Status ApiKeyAuthProcessor::Process(
    const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
    OutputMetadata* /*consumed_auth_metadata*/,
    OutputMetadata* /*response_metadata*/) {
  absl::string_view path;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) {
    path = View(it->second);
  }
  // A call without a path is refused: it names no open service.
  if (!path.empty() && !NeedsApiKey(path)) return grpc::Status::OK;
  std::shared_ptr<const ApiKeySet> keys;
  {
    absl::ReaderMutexLock lock(&mu_);
    keys = keys_;
  }
  auto [first, last] = auth_metadata.equal_range("authorization");
  // Exactly one header, as NotifierService::Begin requires.
  if (first != last && std::next(first) == last &&
      keys->Authenticate(View(first->second)).ok()) {
    return grpc::Status::OK;
  }
  if (on_rejected_) on_rejected_(path);
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kInvalidApiKeyMessage);
}

}  // namespace notifyd::api
