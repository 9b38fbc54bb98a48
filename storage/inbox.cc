#include "storage/inbox.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace notifyd::storage {

CountDelta Contribution(const FlagRow& row) {
  if (row.record) return {};
  return CountDelta{
      .unread = row.read_at_ms == 0 && row.archived_at_ms == 0 ? 1 : 0,
      .unseen = row.seen_at_ms == 0 ? 1 : 0};
}

int BoxOf(int64_t read_at_ms, int64_t archived_at_ms) {
  if (archived_at_ms != 0) return 2;
  return read_at_ms != 0 ? 1 : 0;
}

std::string StateRecordData(const std::vector<uint64_t>& ids, uint64_t up_to_id,
                            bool seen, const bool* read, const bool* archived) {
  std::string out = "{";
  const char* sep = "";
  if (!ids.empty() || up_to_id == 0) {
    absl::StrAppend(&out, "\"ids\":[", absl::StrJoin(ids, ","), "]");
    sep = ",";
  }
  if (up_to_id != 0) {
    absl::StrAppend(&out, sep, "\"up_to_id\":", up_to_id);
    sep = ",";
  }
  auto flag = [&](const char* name, bool value) {
    absl::StrAppend(&out, sep, "\"", name, "\":", value ? "true" : "false");
    sep = ",";
  };
  if (seen) flag("seen", true);
  if (read != nullptr) flag("read", *read);
  if (archived != nullptr) flag("archived", *archived);
  out += "}";
  return out;
}

std::string DeletionRecordData(const std::vector<uint64_t>& ids) {
  return absl::StrCat("{\"ids\":[", absl::StrJoin(ids, ","), "]}");
}

}  // namespace notifyd::storage
