#include "common/trace_context.h"

namespace notifyd {
namespace {

constexpr size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr size_t kParentIdLength = 16;

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsNonZeroLowerHex(absl::string_view s) {
  return IsLowerHex(s) && s.find_first_not_of('0') != absl::string_view::npos;
}

}  // namespace

bool IsValidTraceId(absl::string_view trace_id) {
  return trace_id.size() == kTraceIdLength && IsNonZeroLowerHex(trace_id);
}

absl::string_view TraceIdFromTraceparent(absl::string_view traceparent) {
  if (traceparent.size() < kVersion00Length) return "";
  const absl::string_view version = traceparent.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return "";
  if (version == "00" ? traceparent.size() != kVersion00Length
                      : traceparent.size() > kVersion00Length &&
                            traceparent[kVersion00Length] != '-') {
    return "";
  }
  const absl::string_view trace_id = traceparent.substr(3, kTraceIdLength);
  const absl::string_view parent_id =
      traceparent.substr(4 + kTraceIdLength, kParentIdLength);
  const absl::string_view flags =
      traceparent.substr(5 + kTraceIdLength + kParentIdLength, 2);
  if (traceparent[2] != '-' || traceparent[3 + kTraceIdLength] != '-' ||
      traceparent[4 + kTraceIdLength + kParentIdLength] != '-' ||
      !IsValidTraceId(trace_id) || !IsNonZeroLowerHex(parent_id) ||
      !IsLowerHex(flags)) {
    return "";
  }
  return trace_id;
}

}  // namespace notifyd
