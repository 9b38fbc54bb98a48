// Fuzzes the body parser of POST /v1/inbox/state (ParseStateChange,
// edge/state_change_body.h) and the Content-Type check. Input: the body, bytes
// as sent. Besides not crashing, every accepted change must obey the contract
// the store relies on.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "edge/state_change_body.h"
#include "storage/store.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  (void)notifyd::edge::CheckJsonContentType(body);
  auto change = notifyd::edge::ParseStateChange(body);
  if (!change.ok()) {
    FUZZ_CHECK(change.status().code() == absl::StatusCode::kInvalidArgument);
    for (char c : change.status().message()) {
      FUZZ_CHECK(c >= 0x20 && c < 0x7f);  // printable, safe to echo
    }
    return 0;
  }
  FUZZ_CHECK(change->channel.empty());
  FUZZ_CHECK(change->ids.size() <= notifyd::storage::kMaxChangeIds);
  FUZZ_CHECK(!change->ids.empty() || change->up_to_id > 0);
  for (uint64_t id : change->ids) FUZZ_CHECK(id > 0);
  FUZZ_CHECK(change->seen || change->read.has_value() ||
             change->archived.has_value());
  // Text with no '{' is no JSON object, so it is never accepted.
  FUZZ_CHECK(body.find('{') != absl::string_view::npos);
  return 0;
}
