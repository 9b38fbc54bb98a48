#include "storage/write_ops.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/inbox.h"
#include "storage/write_records.h"

namespace notifyd::storage {
namespace {

// The answer of a state change or a delete.
class ChangeOp : public WriteOp {
 public:
  ChangeOp(const StoreOptions& options, Callback<ChangeResult> done)
      : WriteOp(Kind::kChange), options_(options), done_(std::move(done)) {}

 protected:
  const StoreOptions& options_;
  ChangeResult result_;

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    done_(std::move(result_));
  }

  Callback<ChangeResult> done_;
};

class ChangeStateOp final : public ChangeOp {
 public:
  ChangeStateOp(const StoreOptions& options, StateChange change,
                Callback<ChangeResult> done)
      : ChangeOp(options, std::move(done)), change_(std::move(change)) {}

  absl::Status Run(WriteTransaction& txn) override {
    const int64_t now_ms = options_.NowMs();
    result_ = ChangeResult{};
    std::set<uint64_t> changed;
    CountDelta delta;
    // Reading a notification sees it, so `seen` goes first: each step then
    // changes one flag, and a row's state before it is its state after
    // with that flag flipped.
    auto step = [&](Flag flag, bool on) -> absl::Status {
      absl::StatusOr<WriteTransaction::Rows> rows = txn.SetFlag(
          change_.channel, change_.ids, change_.up_to_id, flag, on, now_ms);
      if (!rows.ok()) return rows.status();
      for (const FlagRow& after : *rows) {
        FlagRow before = after;
        int64_t& at = flag == Flag::kSeen   ? before.seen_at_ms
                      : flag == Flag::kRead ? before.read_at_ms
                                            : before.archived_at_ms;
        at = on ? 0 : 1;
        delta = Plus(delta, Minus(Contribution(after), Contribution(before)));
        changed.insert(after.id);
      }
      return absl::OkStatus();
    };
    const bool seen = change_.seen || change_.read.value_or(false);
    if (seen) {
      if (absl::Status s = step(Flag::kSeen, true); !s.ok()) return s;
    }
    if (change_.read.has_value()) {
      if (absl::Status s = step(Flag::kRead, *change_.read); !s.ok()) return s;
    }
    if (change_.archived.has_value()) {
      if (absl::Status s = step(Flag::kArchived, *change_.archived); !s.ok()) {
        return s;
      }
    }
    result_.changed = changed.size();
    if (changed.empty()) return absl::OkStatus();

    absl::StatusOr<Counts> counts = txn.AddCounts(change_.channel, delta);
    if (!counts.ok()) return counts.status();
    result_.counts = *counts;
    // The record names what changed: ids above up_to_id one by one, the
    // rest by up_to_id.
    std::vector<uint64_t> ids;
    for (uint64_t id : changed) {
      if (id > change_.up_to_id) ids.push_back(id);
    }
    const bool read = change_.read.value_or(false);
    const bool archived = change_.archived.value_or(false);
    absl::StatusOr<std::shared_ptr<const Notification>> record = InsertRecord(
        txn, change_.channel, Notification::Kind::kStateRecord,
        StateRecordData(ids, change_.up_to_id, seen,
                        change_.read.has_value() ? &read : nullptr,
                        change_.archived.has_value() ? &archived : nullptr),
        now_ms, *counts, change_.trace_id);
    if (!record.ok()) return record.status();
    result_.record = *std::move(record);
    return absl::OkStatus();
  }

 private:
  const StateChange change_;
};

class DeleteOp final : public ChangeOp {
 public:
  DeleteOp(const StoreOptions& options, DeleteRequest request,
           Callback<ChangeResult> done)
      : ChangeOp(options, std::move(done)), request_(std::move(request)) {}

  absl::Status Run(WriteTransaction& txn) override {
    result_ = ChangeResult{};
    absl::StatusOr<WriteTransaction::Rows> rows =
        txn.DeleteRows(request_.channel, request_.ids, request_.collapse_key);
    if (!rows.ok()) return rows.status();
    result_.changed = rows->size();
    if (rows->empty() || !IsInbox(request_.channel)) return absl::OkStatus();
    absl::StatusOr<std::shared_ptr<const Notification>> record =
        RecordDeletion(txn, request_.channel, *rows, options_.NowMs(),
                       &result_.counts, request_.trace_id);
    if (!record.ok()) return record.status();
    result_.record = *std::move(record);
    return absl::OkStatus();
  }

 private:
  const DeleteRequest request_;
};

class ExpireOp final : public WriteOp {
 public:
  ExpireOp(const StoreOptions& options, int64_t limit, Callback<uint64_t> done)
      : WriteOp(Kind::kChange),
        options_(options),
        limit_(limit),
        done_(std::move(done)) {}

  absl::Status Run(WriteTransaction& txn) override {
    records_.clear();
    const int64_t now_ms = options_.NowMs();
    absl::StatusOr<WriteTransaction::Rows> rows =
        txn.DeleteExpired(now_ms, limit_);
    if (!rows.ok()) return rows.status();
    deleted_ = rows->size();
    std::map<std::string, WriteTransaction::Rows> by_inbox;
    for (FlagRow& row : *rows) {
      if (IsInbox(row.channel)) by_inbox[row.channel].push_back(row);
    }
    for (const auto& [channel, expired] : by_inbox) {
      absl::StatusOr<std::shared_ptr<const Notification>> record =
          RecordDeletion(txn, channel, expired, now_ms, nullptr,
                         /*trace_id=*/"");
      if (!record.ok()) return record.status();
      records_.push_back(*std::move(record));
    }
    return absl::OkStatus();
  }

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    if (!records_.empty() && options_.on_records) {
      options_.on_records(std::move(records_));
    }
    done_(deleted_);
  }

  const StoreOptions& options_;
  const int64_t limit_;
  Callback<uint64_t> done_;
  uint64_t deleted_ = 0;
  std::vector<std::shared_ptr<const Notification>> records_;
};

absl::Status CheckIds(const std::vector<uint64_t>& ids) {
  if (ids.size() <= kMaxChangeIds) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "a change names at most ", kMaxChangeIds, " ids, not ", ids.size()));
}

}  // namespace

std::unique_ptr<WriteOp> MakeChangeStateOp(const StoreOptions& options,
                                           StateChange change,
                                           Callback<ChangeResult> done) {
  return std::make_unique<ChangeStateOp>(options, std::move(change),
                                         std::move(done));
}

std::unique_ptr<WriteOp> MakeDeleteOp(const StoreOptions& options,
                                      DeleteRequest request,
                                      Callback<ChangeResult> done) {
  return std::make_unique<DeleteOp>(options, std::move(request),
                                    std::move(done));
}

std::unique_ptr<WriteOp> MakeExpireOp(const StoreOptions& options,
                                      int64_t limit, Callback<uint64_t> done) {
  return std::make_unique<ExpireOp>(options, limit, std::move(done));
}

absl::Status CheckStateChange(const StateChange& change) {
  if (!IsInbox(change.channel)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state is kept only in inboxes (", kInboxPrefix, " channels)"));
  }
  if (!change.seen && !change.read.has_value() &&
      !change.archived.has_value()) {
    return absl::InvalidArgumentError(
        "a state change sets at least one of seen, read, archived");
  }
  if (change.ids.empty() && change.up_to_id == 0) {
    return absl::InvalidArgumentError(
        "a state change names ids or an up_to_id");
  }
  return CheckIds(change.ids);
}

absl::Status CheckDelete(const DeleteRequest& request) {
  if (request.ids.empty() && request.collapse_key.empty()) {
    return absl::InvalidArgumentError("a delete names ids or a collapse key");
  }
  if (request.collapse_key.size() > kMaxCollapseKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a collapse key has at most ", kMaxCollapseKeyBytes,
                     " bytes, not ", request.collapse_key.size()));
  }
  return CheckIds(request.ids);
}

absl::StatusOr<uint64_t> Uncount(WriteTransaction& txn,
                                 const WriteTransaction::Rows& rows) {
  std::map<std::string, CountDelta> by_inbox;
  for (const FlagRow& row : rows) {
    if (!IsInbox(row.channel)) continue;
    CountDelta& delta = by_inbox[row.channel];
    delta = Minus(delta, Contribution(row));
  }
  for (const auto& [channel, delta] : by_inbox) {
    if (delta.empty()) continue;
    absl::StatusOr<Counts> counts = txn.AddCounts(channel, delta);
    if (!counts.ok()) return counts.status();
  }
  return rows.size();
}

}  // namespace notifyd::storage
