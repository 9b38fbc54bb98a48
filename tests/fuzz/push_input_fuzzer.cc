// Fuzzes what the push room reads from strangers: endpoint URLs (from
// browsers), Retry-After values (from push services), collapse keys turned
// into Topics, and aes128gcm bodies (decrypted with a fixed subscription).
// Properties: an accepted endpoint is https with a host, a target starting
// with '/', and no byte in its Host header or target that could split an
// HTTP request; a Retry-After is never negative; a Topic is at most 32
// base64url characters; a body that decrypts came with a valid header.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "push/ece.h"
#include "push/endpoint.h"
#include "push/push_message.h"
#include "push/retry_policy.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool HasSplittingByte(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The last byte picks the function (FuzzedDataProvider reads integers
  // from the end); the rest is its input.
  const int which = in.ConsumeIntegralInRange(0, 3);
  const std::string text = in.ConsumeRemainingBytesAsString();
  namespace push = notifyd::push;
  switch (which) {
    case 0: {
      absl::StatusOr<push::Endpoint> e = push::ParseEndpoint(text);
      if (!e.ok()) break;
      FUZZ_CHECK(text.size() <= push::kMaxEndpointBytes);
      FUZZ_CHECK(!e->host.empty());
      FUZZ_CHECK(e->port != 0);
      FUZZ_CHECK(absl::StartsWith(e->origin, "https://"));
      FUZZ_CHECK(!e->target.empty() && e->target[0] == '/');
      FUZZ_CHECK(!HasSplittingByte(e->host_header));
      FUZZ_CHECK(!HasSplittingByte(e->target));
      break;
    }
    case 1: {
      std::optional<absl::Duration> after =
          push::ParseRetryAfter(text, absl::FromUnixSeconds(1'800'000'000));
      FUZZ_CHECK(!after.has_value() || *after >= absl::ZeroDuration());
      break;
    }
    case 2: {
      const std::string topic = push::TopicFor(text);
      FUZZ_CHECK(topic.size() <= push::kMaxTopicChars);
      FUZZ_CHECK(topic.find_first_not_of(
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-_") == std::string::npos);
      break;
    }
    default: {
      static const std::string ua_private(31, '\0');
      const std::string key = ua_private + "\x2a";
      const std::string auth(push::kAuthSecretBytes, 'a');
      absl::StatusOr<std::string> plain = push::Decrypt(text, key, auth);
      if (plain.ok()) {
        FUZZ_CHECK(text.size() > push::kSaltBytes + 5 + 65 + 16);
        FUZZ_CHECK(static_cast<unsigned char>(text[push::kSaltBytes + 4]) ==
                   65);
      }
      break;
    }
  }
  return 0;
}
