#include "storage/write_ops.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/inbox.h"

namespace notifyd::storage {
namespace {

CountDelta Minus(CountDelta a, CountDelta b) {
  return {a.unread - b.unread, a.unseen - b.unseen};
}

CountDelta Plus(CountDelta a, CountDelta b) {
  return {a.unread + b.unread, a.unseen + b.unseen};
}

// The sum of what `rows` added to their inbox's counts, negated: what
// deleting them takes away.
CountDelta Removed(const WriteTransaction::Rows& rows) {
  CountDelta delta;
  for (const FlagRow& row : rows) delta = Minus(delta, Contribution(row));
  return delta;
}

std::vector<uint64_t> SortedIds(const WriteTransaction::Rows& rows) {
  std::vector<uint64_t> ids;
  ids.reserve(rows.size());
  for (const FlagRow& row : rows) ids.push_back(row.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Commits a record of `kind` on inbox `channel` and returns it as the
// stream will carry it.
absl::StatusOr<std::shared_ptr<const Notification>> InsertRecord(
    WriteTransaction& txn, const std::string& channel, Notification::Kind kind,
    std::string data, int64_t now_ms, Counts counts,
    const std::string& trace_id) {
  AppendRequest request;
  request.channel = channel;
  request.event = std::string(
      kind == Notification::Kind::kStateRecord ? kStateEvent : kDeletedEvent);
  request.data = std::move(data);
  absl::StatusOr<uint64_t> id = txn.InsertRow(request, now_ms, kind);
  if (!id.ok()) return id.status();
  auto record = std::make_shared<Notification>();
  record->id = *id;
  record->channel = std::move(request.channel);
  record->event = std::move(request.event);
  record->data = std::move(request.data);
  record->created_at_ms = now_ms;
  record->kind = kind;
  record->has_counts = true;
  record->counts = counts;
  record->trace_id = trace_id;
  return record;
}

// Deletes `rows`' share of the counts of inbox `channel` and records the
// deletion, for the request `trace_id` (empty: none). Nothing for an empty
// `rows`.
absl::StatusOr<std::shared_ptr<const Notification>> RecordDeletion(
    WriteTransaction& txn, const std::string& channel,
    const WriteTransaction::Rows& rows, int64_t now_ms, Counts* counts,
    const std::string& trace_id) {
  absl::StatusOr<Counts> after = txn.AddCounts(channel, Removed(rows));
  if (!after.ok()) return after.status();
  if (counts != nullptr) *counts = *after;
  return InsertRecord(txn, channel, Notification::Kind::kDeletionRecord,
                      DeletionRecordData(SortedIds(rows)), now_ms, *after,
                      trace_id);
}

// One append's work inside a write op: the row, its inbox counts, and the
// deletion of what its collapse key replaces. Run may run again when the
// batch is retried; Result reads what the last run did.
class OneAppend {
 public:
  explicit OneAppend(AppendRequest request) : request_(std::move(request)) {}

  const AppendRequest& request() const { return request_; }

  // `created_at_ms` stamps the row (and the record of what it replaced).
  // Every failure after the row is in ends the batch: nothing else could
  // take the row back out of its counts.
  absl::Status Run(WriteTransaction& txn, int64_t created_at_ms) {
    created_at_ms_ = created_at_ms;
    duplicate_ = nullptr;
    replaced_ = nullptr;
    if (!request_.idempotency_key.empty()) {
      absl::StatusOr<std::shared_ptr<const Notification>> found =
          txn.FindByKey(request_.channel, request_.idempotency_key);
      if (!found.ok()) return found.status();
      if (*found != nullptr) {
        duplicate_ = *std::move(found);
        return absl::OkStatus();
      }
    }
    const bool inbox = IsInbox(request_.channel);
    if (!request_.collapse_key.empty()) {
      absl::StatusOr<WriteTransaction::Rows> older =
          txn.DeleteRows(request_.channel, {}, request_.collapse_key);
      if (!older.ok()) return older.status();
      if (inbox && !older->empty()) {
        absl::StatusOr<std::shared_ptr<const Notification>> record =
            RecordDeletion(txn, request_.channel, *older, created_at_ms_,
                           nullptr, request_.trace_id);
        if (!record.ok()) return record.status();
        replaced_ = *std::move(record);
      }
    }
    absl::StatusOr<uint64_t> id = txn.InsertRow(
        request_, created_at_ms_, Notification::Kind::kNotification);
    if (!id.ok()) return id.status();
    id_ = *id;
    if (inbox) {
      // The row is in: a failure now would leave it without its count.
      absl::StatusOr<Counts> counts =
          txn.AddCounts(request_.channel, {.unread = 1, .unseen = 1});
      if (!counts.ok()) return MarkEndsBatch(counts.status());
      counts_ = *counts;
    }
    return absl::OkStatus();
  }

  // Once, on the completer, after a committed Run: built from the request's
  // own strings, which it takes.
  AppendResult TakeResult() {
    if (duplicate_ != nullptr) {
      return AppendResult{std::move(duplicate_), /*duplicate=*/true,
                          /*replaced=*/nullptr};
    }
    auto n = std::make_shared<Notification>();
    n->id = id_;
    n->has_counts = IsInbox(request_.channel);
    n->counts = counts_;
    n->channel = std::move(request_.channel);
    n->event = std::move(request_.event);
    n->data = std::move(request_.data);
    n->created_at_ms = created_at_ms_;
    n->expires_at_ms = request_.expires_at_ms;
    n->collapse_key = std::move(request_.collapse_key);
    n->trace_id = std::move(request_.trace_id);
    return AppendResult{std::move(n), /*duplicate=*/false,
                        std::move(replaced_)};
  }

 private:
  AppendRequest request_;
  int64_t created_at_ms_ = 0;
  uint64_t id_ = 0;
  Counts counts_;
  std::shared_ptr<const Notification> duplicate_;
  std::shared_ptr<const Notification> replaced_;
};

class AppendOp final : public WriteOp {
 public:
  AppendOp(const StoreOptions& options, AppendRequest request,
           Callback<AppendResult> done)
      : WriteOp(request.collapse_key.empty() ? Kind::kAppend : Kind::kChange),
        options_(options),
        append_(std::move(request)),
        done_(std::move(done)) {}

  absl::Status Run(WriteTransaction& txn) override {
    return append_.Run(txn, options_.NowMs());
  }

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    done_(append_.TakeResult());
  }

  const StoreOptions& options_;
  OneAppend append_;
  Callback<AppendResult> done_;
};

// Store::AppendMany: every append of the call, in order, in one savepoint
// (kChange), so a failure of any undoes all of them.
class AppendManyOp final : public WriteOp {
 public:
  AppendManyOp(const StoreOptions& options, std::vector<AppendRequest> requests,
               Callback<std::vector<AppendResult>> done)
      : WriteOp(Kind::kChange), options_(options), done_(std::move(done)) {
    appends_.reserve(requests.size());
    for (AppendRequest& r : requests) appends_.emplace_back(std::move(r));
  }

  absl::Status Run(WriteTransaction& txn) override {
    // One time for the whole call: its rows were written together.
    const int64_t now_ms = options_.NowMs();
    for (OneAppend& append : appends_) {
      absl::Status s = append.Run(txn, now_ms);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    std::vector<AppendResult> results;
    results.reserve(appends_.size());
    for (OneAppend& append : appends_) results.push_back(append.TakeResult());
    done_(std::move(results));
  }

  const StoreOptions& options_;
  std::vector<OneAppend> appends_;
  Callback<std::vector<AppendResult>> done_;
};

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

std::unique_ptr<WriteOp> MakeAppendOp(const StoreOptions& options,
                                      AppendRequest request,
                                      Callback<AppendResult> done) {
  return std::make_unique<AppendOp>(options, std::move(request),
                                    std::move(done));
}

std::unique_ptr<WriteOp> MakeAppendManyOp(
    const StoreOptions& options, std::vector<AppendRequest> requests,
    Callback<std::vector<AppendResult>> done) {
  return std::make_unique<AppendManyOp>(options, std::move(requests),
                                        std::move(done));
}

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

absl::Status CheckAppend(const AppendRequest& request) {
  if (request.collapse_key.size() > kMaxCollapseKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a collapse key has at most ", kMaxCollapseKeyBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckAppendMany(const std::vector<AppendRequest>& requests) {
  if (requests.empty()) {
    return absl::InvalidArgumentError("AppendMany needs at least one request");
  }
  if (requests.size() > kMaxAppendMany) {
    return absl::InvalidArgumentError(
        absl::StrCat("AppendMany takes at most ", kMaxAppendMany, " requests"));
  }
  for (const AppendRequest& r : requests) {
    if (absl::Status s = CheckAppend(r); !s.ok()) return s;
  }
  return absl::OkStatus();
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
