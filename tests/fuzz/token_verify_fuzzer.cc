// Fuzzes TokenAuthority::Verify (HS256, fixed clock) with arbitrary tokens.
// Seeds include validly signed tokens, so mutations reach claim parsing.
// Properties: only UNAUTHENTICATED failures; an accepted token has a user
// and an expiry no earlier than "now" minus the clock skew.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "api/tokens.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// The key the seed tokens in corpus/token_verify are signed with.
constexpr char kKey[] = "notifyd-fuzz-secret-0123456789abcdef";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

const notifyd::api::TokenAuthority& Authority() {
  static const auto* authority = [] {
    notifyd::api::TokenConfig config;
    config.algorithm = "HS256";
    config.key = kKey;
    auto a = notifyd::api::TokenAuthority::Create(config);
    FUZZ_CHECK(a.ok());
    return new notifyd::api::TokenAuthority(*std::move(a));
  }();
  return *authority;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string token(reinterpret_cast<const char*>(data), size);
  auto claims = Authority().Verify(token, kNow);
  if (!claims.ok()) {
    FUZZ_CHECK(claims.status().code() == absl::StatusCode::kUnauthenticated);
    return 0;
  }
  FUZZ_CHECK(!claims->user_id.empty());
  // Default clock skew: 30 s.
  FUZZ_CHECK(claims->expires_at >= absl::ToUnixSeconds(kNow) - 30);
  return 0;
}
