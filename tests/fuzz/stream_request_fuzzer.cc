// Fuzzes the /v1/stream request parsing: the request target (path, query,
// percent-decoding), the channels list and Last-Event-ID, as the edge calls
// them. Input: "<target>\n<Last-Event-ID header>" (no newline: no header).
// Besides not crashing, every accepted result must obey the contract.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "edge/identity.h"
#include "edge/stream_request.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using notifyd::IsValidChannelName;

void CheckLastEventId(absl::string_view text) {
  auto id = notifyd::edge::ParseLastEventId(text);
  if (!id.ok()) return;
  if (text.empty()) {
    FUZZ_CHECK(!id->has_value());
    return;
  }
  // Accepted only as plain decimal digits that fit: the value reads back.
  FUZZ_CHECK(id->has_value());
  FUZZ_CHECK(std::all_of(text.begin(), text.end(),
                         [](char c) { return c >= '0' && c <= '9'; }));
  uint64_t again = 0;
  FUZZ_CHECK(absl::SimpleAtoi(text, &again) && again == **id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  absl::string_view target = input.substr(0, nl);
  std::optional<absl::string_view> header;
  if (nl != absl::string_view::npos) header = input.substr(nl + 1);

  CheckLastEventId(target);
  constexpr size_t kMax = 4;
  auto list = notifyd::edge::ParseChannelList(target, kMax);
  if (list.ok()) {
    FUZZ_CHECK(list->size() <= kMax);
    for (size_t i = 0; i < list->size(); ++i) {
      FUZZ_CHECK(IsValidChannelName((*list)[i]));
      for (size_t j = 0; j < i; ++j) FUZZ_CHECK((*list)[i] != (*list)[j]);
    }
  }

  auto parsed = notifyd::edge::ParseTarget(target);
  if (!parsed.ok()) return 0;
  auto req = notifyd::edge::ParseStreamRequest(*parsed, header, kMax);
  if (!req.ok()) return 0;
  FUZZ_CHECK(req->channels.size() <= kMax);
  for (const std::string& c : req->channels) FUZZ_CHECK(IsValidChannelName(c));
  // Parameters that decide what is read appear at most once.
  for (absl::string_view key : notifyd::edge::kSingleValuedParams) {
    FUZZ_CHECK(
        std::count_if(parsed->params.begin(), parsed->params.end(),
                      [key](const auto& kv) { return kv.first == key; }) <= 1);
  }
  if (header) CheckLastEventId(*header);
  return 0;
}
