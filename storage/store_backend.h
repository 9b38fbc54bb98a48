// What a database plugs into the store engine (store_engine.h).
//
// The engine owns everything that is the same for every database: the
// threads, the queues, group commit, the order of callbacks, the close
// order and the pruning schedule (docs/DESIGN.md, The publish path). A
// backend owns its connections and runs the queries: SQLite
// (sqlite_store.h), PostgreSQL (postgres_store.h) and memory
// (memory_store.h).
//
// A database whose queries are free functions with the same names and a
// connection as first argument (sqlite_queries.h, postgres_queries.h) gets
// its StoreReader and WriteTransaction from QueryReader and
// QueryTransaction below instead of writing them again.
//
// Threading: the engine calls each method on the thread its comment names,
// never two at once on the same object unless it says so.
#ifndef NOTIFYD_STORAGE_STORE_BACKEND_H_
#define NOTIFYD_STORAGE_STORE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "storage/inbox.h"
#include "storage/push.h"
#include "storage/store.h"

namespace notifyd::storage {

// For pruning by max_per_channel: the newest id of `channel` that may be
// deleted so that the wanted number of rows remains.
struct ChannelCut {
  std::string channel;
  int64_t max_id = 0;
};

// The primitive writes of one open transaction, which the write operations
// (write_ops.h) combine into Store calls, the same for every database. A
// failure must leave nothing of its own call behind, or end the
// transaction (the backend then fails the batch); an operation that runs
// several primitives runs where a failure undoes the whole operation (a
// savepoint, or the batch's retry). Used by one thread at a time.
//
// Rows are notifications and records (notification.h); only the deletes
// say whether they touch records.
class WriteTransaction {
 public:
  using Rows = std::vector<FlagRow>;
  virtual ~WriteTransaction() = default;

  // The row stored under (channel, key), null when there is none. Sees rows
  // inserted earlier in the same transaction.
  virtual absl::StatusOr<std::shared_ptr<const Notification>> FindByKey(
      const std::string& channel, const std::string& key) = 0;
  // Stores `request` as a new row of `kind` stamped `now_ms`, with the next
  // id, and returns the id. Leaves `request` intact: a backend may run it
  // again.
  virtual absl::StatusOr<uint64_t> InsertRow(const AppendRequest& request,
                                             int64_t now_ms,
                                             Notification::Kind kind) = 0;
  // Adds `delta` to the counts of inbox `channel` (a missing entry counts
  // from zero) and returns them.
  virtual absl::StatusOr<Counts> AddCounts(const std::string& channel,
                                           CountDelta delta) = 0;
  // FindByKey for each of `rows`' (channel, idempotency_key), in order;
  // a row without a key finds nothing. The keys are distinct per channel.
  // By default FindByKey per row; a backend that can look them up in one
  // statement overrides it.
  virtual absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
  FindByKeys(const std::vector<const AppendRequest*>& rows) {
    std::vector<std::shared_ptr<const Notification>> found(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i]->idempotency_key.empty()) continue;
      absl::StatusOr<std::shared_ptr<const Notification>> row =
          FindByKey(rows[i]->channel, rows[i]->idempotency_key);
      if (!row.ok()) return row.status();
      found[i] = *std::move(row);
    }
    return found;
  }
  // The fan-out of AppendMany (append_ops.h): stores one notification per
  // request of `rows` (not empty), in order, stamped `now_ms`, with
  // consecutive ids, and returns the ids. Every row has the first's event,
  // data and expires_at_ms and no collapse key; channel and idempotency_key
  // are its own. What a failure leaves in is undone by the caller's
  // savepoint. By default, InsertRow per row; a backend that can store them
  // in fewer statements overrides it.
  virtual absl::StatusOr<std::vector<uint64_t>> InsertFanOut(
      const std::vector<const AppendRequest*>& rows, int64_t now_ms) {
    std::vector<uint64_t> ids;
    ids.reserve(rows.size());
    for (const AppendRequest* row : rows) {
      absl::StatusOr<uint64_t> id =
          InsertRow(*row, now_ms, Notification::Kind::kNotification);
      if (!id.ok()) return id.status();
      ids.push_back(*id);
    }
    return ids;
  }
  // AddCounts for each inbox of `channels` (distinct), returning their
  // counts in order. Same defaults and failure as InsertFanOut.
  virtual absl::StatusOr<std::vector<Counts>> AddCountsEach(
      const std::vector<const std::string*>& channels, CountDelta delta) {
    std::vector<Counts> counts;
    counts.reserve(channels.size());
    for (const std::string* channel : channels) {
      absl::StatusOr<Counts> c = AddCounts(*channel, delta);
      if (!c.ok()) return c.status();
      counts.push_back(*c);
    }
    return counts;
  }
  // Sets (at `now_ms`) or clears `flag` on the notifications of `channel`
  // named by `ids` or with ids up to `up_to_id` (0: none) whose flag is not
  // already so, and returns them as they are now. Never touches records.
  virtual absl::StatusOr<Rows> SetFlag(const std::string& channel,
                                       const std::vector<uint64_t>& ids,
                                       uint64_t up_to_id, Flag flag, bool on,
                                       int64_t now_ms) = 0;
  // Deletes the notifications of `channel` named by `ids` or, when
  // `collapse_key` is not empty, carrying it; returns them as they were.
  // Never deletes records; never frees an id for reuse.
  virtual absl::StatusOr<Rows> DeleteRows(const std::string& channel,
                                          const std::vector<uint64_t>& ids,
                                          const std::string& collapse_key) = 0;
  // Deletes at most `limit` notifications that expired at or before
  // `now_ms`, soonest expired first; returns them (channel filled).
  virtual absl::StatusOr<Rows> DeleteExpired(int64_t now_ms, int64_t limit) = 0;
  // Deletes the oldest rows in id order while they were created before
  // `cutoff_ms`, at most `limit`; stops at the first newer row, so after
  // the clock stepped back no row goes before it is old enough. Never
  // frees an id for reuse. Returns them (channel filled).
  virtual absl::StatusOr<Rows> DeleteOldest(int64_t cutoff_ms,
                                            int64_t limit) = 0;
  // Deletes at most `limit` rows of `channel` with ids up to `max_id`;
  // returns them (channel filled).
  virtual absl::StatusOr<Rows> DeleteFromChannel(const std::string& channel,
                                                 int64_t max_id,
                                                 int64_t limit) = 0;

  // --- Web Push (push.h). Deleting a notification, by any of the deletes
  // above, also deletes its pushed mark (the schema does it).

  // The subscription stored under `endpoint`, nullopt when none.
  virtual absl::StatusOr<std::optional<PushSubscription>> FindPushEndpoint(
      const std::string& endpoint) = 0;
  // How many subscriptions inbox `channel` has.
  virtual absl::StatusOr<uint64_t> CountPushSubscriptions(
      const std::string& channel) = 0;
  // Stores `subscription` as it is, replacing what its endpoint held.
  virtual absl::Status UpsertPushSubscription(
      const PushSubscription& subscription) = 0;
  // Deletes the subscription of `endpoint` when it is `channel`'s (any
  // inbox's when empty); whether one was deleted.
  virtual absl::StatusOr<bool> DeletePushSubscription(
      const std::string& endpoint, const std::string& channel) = 0;
  // Marks those of `ids` that are notifications of an inbox (not records)
  // and not marked yet as pushed at `now_ms`; returns how many it marked.
  virtual absl::StatusOr<uint64_t> InsertPushed(
      const std::vector<uint64_t>& ids, int64_t now_ms) = 0;
};

// The reads of one reader thread, as store.h describes them. Each call
// sees one snapshot; `now_ms` decides what has expired. Used by one reader
// thread only.
class StoreReader {
 public:
  using Rows = std::vector<std::shared_ptr<const Notification>>;
  virtual ~StoreReader() = default;
  virtual absl::StatusOr<std::vector<Notification>> List(const ListQuery& query,
                                                         int64_t now_ms) = 0;
  // `query.channels` are distinct and sorted, at most kMaxReplayChannels.
  virtual absl::StatusOr<ReplayPage> Replay(const ReplayQuery& query,
                                            int64_t now_ms) = 0;
  virtual absl::StatusOr<Counts> ReadCounts(const std::string& channel,
                                            int64_t now_ms) = 0;
  // Whether a notification has expired at or before `now_ms` (and is still
  // stored). Cheap: the expirer asks it every expiry_interval.
  virtual absl::StatusOr<bool> AnyExpired(int64_t now_ms) = 0;
  virtual absl::StatusOr<StoreStats> Stats() = 0;
  virtual absl::StatusOr<Rows> ReadIdRange(uint64_t after_id, uint64_t up_to_id,
                                           uint32_t limit) = 0;
  virtual absl::StatusOr<uint64_t> LastCommittedId() = 0;
  virtual absl::StatusOr<bool> Ping() = 0;
  // Web Push (push.h): a user's subscriptions, oldest first; the one with
  // a secret hash (nullopt: none); the push candidates at `now_ms`.
  virtual absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionsOf(
      const std::string& channel) = 0;
  virtual absl::StatusOr<std::optional<PushSubscription>>
  PushSubscriptionBySecret(const std::string& secret_sha256) = 0;
  virtual absl::StatusOr<Rows> PushCandidates(const PushCandidatesQuery& query,
                                              int64_t now_ms) = 0;
};

// Marks `status` (a failure) as one that left part of its call behind, so
// the backend must fail the whole batch rather than that call alone.
inline constexpr absl::string_view kEndsBatchPayload = "notifyd.ends_batch";
inline absl::Status MarkEndsBatch(absl::Status status) {
  status.SetPayload(kEndsBatchPayload, absl::Cord("1"));
  return status;
}
// Whether MarkEndsBatch marked `status`.
inline bool EndsBatch(const absl::Status& status) {
  return status.GetPayload(kEndsBatchPayload).has_value();
}

// One queued write call, as the backend sees it inside CommitBatch. The
// engine makes them (appends, MarkRead, the pruner's delete batches) and
// answers their callers.
class WriteOp {
 public:
  // kAppend: an append without a collapse key (the hot path), which writes
  // its row first, so a failure of that statement leaves nothing, and any
  // failure after it ends the batch (EndsBatch); kChange: anything else that
  // may take ids (collapse keys, state changes, deletes, expiry); kPrune:
  // retention.
  enum class Kind { kAppend, kChange, kPrune };

  explicit WriteOp(Kind kind) : kind_(kind) {}
  virtual ~WriteOp() = default;

  // kAppend ops need no savepoint where the database has no other way to
  // undo a failed call; the others do.
  Kind kind() const { return kind_; }
  absl::Time queued_at() const { return queued_at_; }

  // Runs the call in `txn`. May run again in a later try of the same batch
  // when the backend rolled the first back; the last run's result counts.
  virtual absl::Status Run(WriteTransaction& txn) = 0;

 private:
  friend class StoreEngine;
  // Completer thread, once: Run's result, or the failure given.
  virtual void Finish(absl::Status status) = 0;

  const Kind kind_;
  const absl::Time queued_at_ = absl::Now();
};

// A database's side of the engine: its writer connection, and what its
// pruner needs. Owned by the engine, destroyed once its threads ended (its
// destructor closes the connections, in the order the database needs).
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;

  // Writer thread. Runs `ops` (oldest first, at least one) and commits
  // them together. A call that fails fails only itself and takes no id;
  // results[i] (OK on entry) gets op i's failure. When the batch is lost
  // as a whole, every result gets that failure. Returns whether anything
  // was committed (and so is durable).
  virtual bool CommitBatch(const std::vector<std::unique_ptr<WriteOp>>& ops,
                           std::vector<absl::Status>& results) = 0;

  // Writer thread, after each batch went to the completer.
  virtual void AfterBatch() {}

  // The pruner thread or PruneNow's caller, one at a time, at the start of
  // each pass that prunes. Where the pass deletes: null, each delete batch
  // is a writer task between two commits (a database with one writer);
  // otherwise through the returned transaction, one delete batch per
  // transaction beside the writer. Owned by the backend.
  virtual absl::StatusOr<WriteTransaction*> PruneTransaction() = 0;

  // Same threads, after PruneTransaction() succeeded in the same pass: the
  // cut of each channel holding more than `keep` rows.
  virtual absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(
      int64_t keep) = 0;
};

// What a database's open function hands the engine.
struct StoreParts {
  std::unique_ptr<StoreBackend> backend;
  // At least one: one reader thread each. The engine destroys them once
  // their threads ended, before the backend.
  std::vector<std::unique_ptr<StoreReader>> readers;
};

// A StoreReader over a connection `Db` and the read queries found for it
// by argument-dependent lookup: ListRows, ReplayRows, CountsRow,
// HasExpired, ReadStats, IdRangeRows, ReadLastId, PingDatabase,
// PushSubscriptionRows, PushSubscriptionBySecretRow, PushCandidateRows, and
// ReadAgain(db), which says whether a failed read may run once more (a lost
// connection was re-established).
template <typename Db>
class QueryReader final : public StoreReader {
 public:
  explicit QueryReader(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  absl::StatusOr<std::vector<Notification>> List(const ListQuery& query,
                                                 int64_t now_ms) override {
    return Read([&] { return ListRows(*db_, query, now_ms); });
  }
  absl::StatusOr<ReplayPage> Replay(const ReplayQuery& query,
                                    int64_t now_ms) override {
    return Read([&] { return ReplayRows(*db_, query, now_ms); });
  }
  absl::StatusOr<Counts> ReadCounts(const std::string& channel,
                                    int64_t now_ms) override {
    return Read([&] { return CountsRow(*db_, channel, now_ms); });
  }
  absl::StatusOr<bool> AnyExpired(int64_t now_ms) override {
    return Read([&] { return HasExpired(*db_, now_ms); });
  }
  absl::StatusOr<StoreStats> Stats() override {
    return Read([&] { return ReadStats(*db_); });
  }
  absl::StatusOr<Rows> ReadIdRange(uint64_t after_id, uint64_t up_to_id,
                                   uint32_t limit) override {
    return Read([&] { return IdRangeRows(*db_, after_id, up_to_id, limit); });
  }
  absl::StatusOr<uint64_t> LastCommittedId() override {
    return Read([&] { return ReadLastId(*db_); });
  }
  absl::StatusOr<bool> Ping() override {
    return Read([&] { return PingDatabase(*db_); });
  }
  absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionsOf(
      const std::string& channel) override {
    return Read([&] { return PushSubscriptionRows(*db_, channel); });
  }
  absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecret(
      const std::string& secret_sha256) override {
    return Read(
        [&] { return PushSubscriptionBySecretRow(*db_, secret_sha256); });
  }
  absl::StatusOr<Rows> PushCandidates(const PushCandidatesQuery& query,
                                      int64_t now_ms) override {
    return Read([&] { return PushCandidateRows(*db_, query, now_ms); });
  }

 private:
  template <typename Fn>
  auto Read(Fn fn) -> decltype(fn()) {
    auto result = fn();
    if (!result.ok() && ReadAgain(*db_)) result = fn();
    return result;
  }

  const std::unique_ptr<Db> db_;
};

// A WriteTransaction over `Db` (not owned) and the write queries found for
// it by argument-dependent lookup: RowByKey, RowsByKeys, InsertNotification,
// InsertFanOutRows, AddToCounts, AddToCountsEach, SetFlagOn, DeleteNamed,
// DeleteExpiredBy, DeleteOldestCreatedBefore, DeleteChannelUpTo,
// PushSubscriptionByEndpoint, CountPushSubscriptionsOf,
// UpsertPushSubscriptionRow, DeletePushSubscriptionRow, InsertPushedRows.
template <typename Db>
class QueryTransaction final : public WriteTransaction {
 public:
  explicit QueryTransaction(Db& db) : db_(db) {}

  absl::StatusOr<std::shared_ptr<const Notification>> FindByKey(
      const std::string& channel, const std::string& key) override {
    return RowByKey(db_, channel, key);
  }
  absl::StatusOr<uint64_t> InsertRow(const AppendRequest& request,
                                     int64_t now_ms,
                                     Notification::Kind kind) override {
    return InsertNotification(db_, request, now_ms, kind);
  }
  absl::StatusOr<Counts> AddCounts(const std::string& channel,
                                   CountDelta delta) override {
    return AddToCounts(db_, channel, delta);
  }
  absl::StatusOr<std::vector<std::shared_ptr<const Notification>>> FindByKeys(
      const std::vector<const AppendRequest*>& rows) override {
    return RowsByKeys(db_, rows);
  }
  absl::StatusOr<std::vector<uint64_t>> InsertFanOut(
      const std::vector<const AppendRequest*>& rows, int64_t now_ms) override {
    return InsertFanOutRows(db_, rows, now_ms);
  }
  absl::StatusOr<std::vector<Counts>> AddCountsEach(
      const std::vector<const std::string*>& channels,
      CountDelta delta) override {
    return AddToCountsEach(db_, channels, delta);
  }
  absl::StatusOr<Rows> SetFlag(const std::string& channel,
                               const std::vector<uint64_t>& ids,
                               uint64_t up_to_id, Flag flag, bool on,
                               int64_t now_ms) override {
    return SetFlagOn(db_, channel, ids, up_to_id, flag, on, now_ms);
  }
  absl::StatusOr<Rows> DeleteRows(const std::string& channel,
                                  const std::vector<uint64_t>& ids,
                                  const std::string& collapse_key) override {
    return DeleteNamed(db_, channel, ids, collapse_key);
  }
  absl::StatusOr<Rows> DeleteExpired(int64_t now_ms, int64_t limit) override {
    return DeleteExpiredBy(db_, now_ms, limit);
  }
  absl::StatusOr<Rows> DeleteOldest(int64_t cutoff_ms, int64_t limit) override {
    return DeleteOldestCreatedBefore(db_, cutoff_ms, limit);
  }
  absl::StatusOr<Rows> DeleteFromChannel(const std::string& channel,
                                         int64_t max_id,
                                         int64_t limit) override {
    return DeleteChannelUpTo(db_, channel, max_id, limit);
  }
  absl::StatusOr<std::optional<PushSubscription>> FindPushEndpoint(
      const std::string& endpoint) override {
    return PushSubscriptionByEndpoint(db_, endpoint);
  }
  absl::StatusOr<uint64_t> CountPushSubscriptions(
      const std::string& channel) override {
    return CountPushSubscriptionsOf(db_, channel);
  }
  absl::Status UpsertPushSubscription(
      const PushSubscription& subscription) override {
    return UpsertPushSubscriptionRow(db_, subscription);
  }
  absl::StatusOr<bool> DeletePushSubscription(
      const std::string& endpoint, const std::string& channel) override {
    return DeletePushSubscriptionRow(db_, endpoint, channel);
  }
  absl::StatusOr<uint64_t> InsertPushed(const std::vector<uint64_t>& ids,
                                        int64_t now_ms) override {
    return InsertPushedRows(db_, ids, now_ms);
  }

 private:
  Db& db_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_STORE_BACKEND_H_
