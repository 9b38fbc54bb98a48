#include "api/notifier_convert.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "absl/strings/str_cat.h"

namespace notifyd::api {

namespace pb = ::notify::v1;

void ToTimestamp(int64_t unix_ms, google::protobuf::Timestamp* out) {
  int64_t seconds = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {  // nanos must be in [0, 1e9)
    ms += 1000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(ms) * 1000000);
}

void ToProto(const storage::Notification& n, pb::Notification* out) {
  out->set_id(n.id);
  out->set_channel(n.channel);
  out->set_event(n.event);
  out->set_data(n.data);
  ToTimestamp(n.created_at_ms, out->mutable_created_at());
  out->set_read(n.read());
  out->set_seen(n.seen());
  out->set_archived(n.archived());
  if (n.seen_at_ms != 0) ToTimestamp(n.seen_at_ms, out->mutable_seen_at());
  if (n.read_at_ms != 0) ToTimestamp(n.read_at_ms, out->mutable_read_at());
  if (n.archived_at_ms != 0) {
    ToTimestamp(n.archived_at_ms, out->mutable_archived_at());
  }
  if (n.expires_at_ms != 0) {
    ToTimestamp(n.expires_at_ms, out->mutable_expires_at());
  }
  out->set_collapse_key(n.collapse_key);
}

void ToProto(const storage::Counts& counts, pb::Counts* out) {
  out->set_unread(counts.unread);
  out->set_unseen(counts.unseen);
}

absl::StatusOr<storage::ListFilter> ToListFilter(pb::Filter filter,
                                                 bool unread_only) {
  if (unread_only && filter != pb::FILTER_INBOX &&
      filter != pb::FILTER_UNREAD) {
    return absl::InvalidArgumentError(
        absl::StrCat("unread_only conflicts with filter ",
                     pb::Filter_Name(filter), ": give one of them"));
  }
  if (unread_only) return storage::ListFilter::kUnread;
  switch (filter) {
    case pb::FILTER_INBOX:
      return storage::ListFilter::kInbox;
    case pb::FILTER_UNREAD:
      return storage::ListFilter::kUnread;
    case pb::FILTER_UNSEEN:
      return storage::ListFilter::kUnseen;
    case pb::FILTER_ARCHIVED:
      return storage::ListFilter::kArchived;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "filter ", static_cast<int>(filter),
          " is unknown: FILTER_INBOX, FILTER_UNREAD, FILTER_UNSEEN or "
          "FILTER_ARCHIVED"));
  }
}

absl::StatusOr<std::vector<uint64_t>> RecordIds(absl::string_view data) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(
      boost::json::string_view(data.data(), data.size()), error);
  const boost::json::array* ids = nullptr;
  if (!error && value.is_object()) {
    if (const boost::json::value* v = value.as_object().if_contains("ids")) {
      ids = v->if_array();
    }
  }
  if (ids == nullptr) {
    return absl::InternalError(
        absl::StrCat("a deletion record has no ids: ", data));
  }
  std::vector<uint64_t> out;
  out.reserve(ids->size());
  for (const boost::json::value& id : *ids) {
    if (id.is_uint64()) {
      out.push_back(id.get_uint64());
    } else if (id.is_int64() && id.get_int64() >= 0) {
      out.push_back(static_cast<uint64_t>(id.get_int64()));
    } else {
      return absl::InternalError(
          absl::StrCat("a deletion record has a bad id: ", data));
    }
  }
  return out;
}

absl::Status ValidateIdCount(absl::string_view field, size_t count,
                             absl::string_view more) {
  if (count <= storage::kMaxChangeIds) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " has ", count, " entries; at most ",
                   storage::kMaxChangeIds, " are allowed", more));
}

}  // namespace notifyd::api
