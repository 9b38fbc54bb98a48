#include "storage/append_ops.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "storage/inbox.h"
#include "storage/write_records.h"

namespace notifyd::storage {
namespace {

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

  // The fan-out's Run (AppendManyOp): the row is stored as `id` with
  // `counts` (when an inbox), or was already under its key (`duplicate`).
  void SetStored(int64_t created_at_ms, uint64_t id, Counts counts) {
    created_at_ms_ = created_at_ms;
    duplicate_ = nullptr;
    replaced_ = nullptr;
    id_ = id;
    counts_ = counts;
  }
  void SetDuplicate(std::shared_ptr<const Notification> original) {
    replaced_ = nullptr;
    duplicate_ = std::move(original);
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

// Whether `requests` are a fan-out (append_ops.h, MakeAppendManyOp).
bool IsFanOut(const std::vector<AppendRequest>& requests) {
  const AppendRequest& first = requests.front();
  absl::flat_hash_set<std::pair<absl::string_view, absl::string_view>> keys;
  for (const AppendRequest& r : requests) {
    if (!r.collapse_key.empty() || r.expires_at_ms != first.expires_at_ms ||
        r.event != first.event || r.data != first.data) {
      return false;
    }
    if (!r.idempotency_key.empty() &&
        !keys.emplace(r.channel, r.idempotency_key).second) {
      return false;
    }
  }
  return true;
}

// Store::AppendMany: every append of the call, in order, in one savepoint
// (kChange), so a failure of any undoes all of them.
class AppendManyOp final : public WriteOp {
 public:
  AppendManyOp(const StoreOptions& options, std::vector<AppendRequest> requests,
               Callback<std::vector<AppendResult>> done)
      : WriteOp(Kind::kChange),
        options_(options),
        fan_out_(IsFanOut(requests)),
        done_(std::move(done)) {
    appends_.reserve(requests.size());
    for (AppendRequest& r : requests) appends_.emplace_back(std::move(r));
  }

  absl::Status Run(WriteTransaction& txn) override {
    // One time for the whole call: its rows were written together.
    const int64_t now_ms = options_.NowMs();
    if (fan_out_) return RunFanOut(txn, now_ms);
    for (OneAppend& append : appends_) {
      absl::Status s = append.Run(txn, now_ms);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  // The same rows as OneAppend::Run one by one, but the new rows and their
  // counts each in one primitive call.
  absl::Status RunFanOut(WriteTransaction& txn, int64_t now_ms) {
    std::vector<const AppendRequest*> all;
    all.reserve(appends_.size());
    for (const OneAppend& append : appends_) all.push_back(&append.request());
    absl::StatusOr<std::vector<std::shared_ptr<const Notification>>> found =
        txn.FindByKeys(all);
    if (!found.ok()) return found.status();
    if (found->size() != all.size()) {
      return absl::InternalError("store: FindByKeys lost rows");
    }
    std::vector<OneAppend*> fresh;
    std::vector<const AppendRequest*> rows;
    fresh.reserve(appends_.size());
    rows.reserve(appends_.size());
    for (size_t i = 0; i < appends_.size(); ++i) {
      if ((*found)[i] != nullptr) {
        appends_[i].SetDuplicate(std::move((*found)[i]));
        continue;
      }
      fresh.push_back(&appends_[i]);
      rows.push_back(all[i]);
    }
    if (rows.empty()) return absl::OkStatus();
    absl::StatusOr<std::vector<uint64_t>> ids = txn.InsertFanOut(rows, now_ms);
    if (!ids.ok()) return ids.status();
    if (ids->size() != rows.size()) {
      return absl::InternalError("store: InsertFanOut lost rows");
    }
    std::vector<const std::string*> inboxes;
    for (const AppendRequest* r : rows) {
      if (IsInbox(r->channel)) inboxes.push_back(&r->channel);
    }
    std::vector<Counts> counts;
    if (!inboxes.empty()) {
      absl::StatusOr<std::vector<Counts>> added =
          txn.AddCountsEach(inboxes, {.unread = 1, .unseen = 1});
      if (!added.ok()) return added.status();
      if (added->size() != inboxes.size()) {
        return absl::InternalError("store: AddCountsEach lost entries");
      }
      counts = *std::move(added);
    }
    size_t next_count = 0;
    for (size_t i = 0; i < fresh.size(); ++i) {
      Counts c;
      if (IsInbox(rows[i]->channel)) c = counts[next_count++];
      fresh[i]->SetStored(now_ms, (*ids)[i], c);
    }
    return absl::OkStatus();
  }

  void Finish(absl::Status status) override {
    if (!status.ok()) return done_(std::move(status));
    std::vector<AppendResult> results;
    results.reserve(appends_.size());
    for (OneAppend& append : appends_) results.push_back(append.TakeResult());
    done_(std::move(results));
  }

  const StoreOptions& options_;
  const bool fan_out_;
  std::vector<OneAppend> appends_;
  Callback<std::vector<AppendResult>> done_;
};

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

}  // namespace notifyd::storage
