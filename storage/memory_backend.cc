#include "storage/memory_backend.h"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/inbox.h"

namespace notifyd::storage {

// The database as the writer sees it: it applies a whole batch under the
// exclusive lock, so a batch becomes visible at once, like a commit. The
// write methods run only inside CommitBatch, each logging how to undo what
// it changed, so a call that fails halfway is rolled back alone.
class MemoryBackend final : public StoreBackend, public WriteTransaction {
 public:
  explicit MemoryBackend(std::shared_ptr<MemoryDatabase> db)
      : db_(std::move(db)) {}

  // StoreBackend:
  bool CommitBatch(const std::vector<std::unique_ptr<WriteOp>>& ops,
                   std::vector<absl::Status>& results) override {
    absl::MutexLock lock(&db_->mu_);
    for (size_t i = 0; i < ops.size(); ++i) {
      undo_.clear();
      results[i] = ops[i]->Run(*this);
      if (!results[i].ok()) {
        for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
      }
    }
    undo_.clear();
    return true;
  }

  absl::StatusOr<WriteTransaction*> PruneTransaction() override {
    return nullptr;
  }

  absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(
      int64_t keep) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::vector<ChannelCut> cuts;
    for (const auto& [name, ids] : db_->channels_) {
      // Records do not count towards max_per_channel.
      int64_t kept = 0;
      for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
        if (db_->rows_.at(*it).notification->is_record()) continue;
        if (kept++ == keep) {
          cuts.push_back({name, static_cast<int64_t>(*it)});
          break;
        }
      }
    }
    return cuts;
  }

  // WriteTransaction:
  absl::StatusOr<std::shared_ptr<const Notification>> FindByKey(
      const std::string& channel, const std::string& key) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto seen = db.keys_.find({channel, key});
    if (seen == db.keys_.end()) return std::shared_ptr<const Notification>();
    return db.rows_.at(seen->second).notification;
  }

  absl::StatusOr<uint64_t> InsertRow(const AppendRequest& request,
                                     int64_t now_ms,
                                     Notification::Kind kind) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto n = std::make_shared<Notification>();
    n->id = db.last_id_ + 1;
    n->channel = request.channel;
    n->event = request.event;
    n->data = request.data;
    n->created_at_ms = now_ms;
    n->kind = kind;
    n->expires_at_ms = request.expires_at_ms;
    n->collapse_key = request.collapse_key;
    if (db.check_) {
      if (absl::Status s = db.check_(MemoryDatabase::Write::kInsert, *n);
          !s.ok()) {
        return s;
      }
    }
    const uint64_t previous_last = db.last_id_;
    db.last_id_ = n->id;
    db.Put({n, request.idempotency_key});
    undo_.push_back([this, id = n->id, previous_last] {
      db_->mu_.AssertHeld();
      db_->Erase(id);
      db_->last_id_ = previous_last;
    });
    return n->id;
  }

  absl::StatusOr<Counts> AddCounts(const std::string& channel,
                                   CountDelta delta) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    undo_.push_back([this, channel, delta] {
      db_->mu_.AssertHeld();
      db_->AddCounts(channel, -delta.unread, -delta.unseen);
    });
    return db.AddCounts(channel, delta.unread, delta.unseen);
  }

  absl::StatusOr<Rows> SetFlag(const std::string& channel,
                               const std::vector<uint64_t>& ids,
                               uint64_t up_to_id, Flag flag, bool on,
                               int64_t now_ms) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    Rows changed;
    auto held = db.channels_.find(channel);
    if (held == db.channels_.end()) return changed;
    auto flag_of = [flag](Notification& n) -> int64_t& {
      return flag == Flag::kSeen   ? n.seen_at_ms
             : flag == Flag::kRead ? n.read_at_ms
                                   : n.archived_at_ms;
    };
    // The notifications of the channel to change, each once.
    std::set<uint64_t> matched;
    for (auto it = held->second.begin();
         it != held->second.end() && *it <= up_to_id; ++it) {
      matched.insert(*it);
    }
    for (uint64_t id : ids) {
      if (held->second.count(id) > 0) matched.insert(id);
    }
    std::vector<uint64_t> to_change;
    for (uint64_t id : matched) {
      Notification copy = *db.rows_.at(id).notification;
      if (copy.is_record() || (flag_of(copy) != 0) == on) continue;
      if (db.check_ && flag == Flag::kRead) {
        if (absl::Status s = db.check_(MemoryDatabase::Write::kMarkRead, copy);
            !s.ok()) {
          return s;
        }
      }
      to_change.push_back(id);
    }
    for (uint64_t id : to_change) {
      // Copied, not changed: readers may hold the old row.
      std::shared_ptr<const Notification>& row = db.rows_.at(id).notification;
      auto after = std::make_shared<Notification>(*row);
      flag_of(*after) = on ? now_ms : 0;
      undo_.push_back([this, id, before = row] {
        db_->mu_.AssertHeld();
        db_->rows_.at(id).notification = before;
      });
      changed.push_back(MemoryDatabase::FlagsOf(*after));
      row = std::move(after);
    }
    return changed;
  }

  absl::StatusOr<Rows> DeleteRows(const std::string& channel,
                                  const std::vector<uint64_t>& ids,
                                  const std::string& collapse_key) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    std::set<uint64_t> matched;
    for (uint64_t id : ids) {
      auto row = db.rows_.find(id);
      if (row != db.rows_.end() &&
          row->second.notification->channel == channel &&
          !row->second.notification->is_record()) {
        matched.insert(id);
      }
    }
    if (!collapse_key.empty()) {
      auto keyed = db.collapse_.find({channel, collapse_key});
      if (keyed != db.collapse_.end()) {
        matched.insert(keyed->second.begin(), keyed->second.end());
      }
    }
    return EraseLogged(matched);
  }

  absl::StatusOr<Rows> DeleteExpired(int64_t now_ms, int64_t limit) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    std::set<uint64_t> matched;
    for (auto it = db.expiry_.begin();
         it != db.expiry_.end() && it->first <= now_ms &&
         matched.size() < static_cast<size_t>(limit);
         ++it) {
      matched.insert(it->second);
    }
    return EraseLogged(matched);
  }

  absl::StatusOr<Rows> DeleteOldest(int64_t cutoff_ms, int64_t limit) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    std::set<uint64_t> matched;
    for (auto it = db.rows_.begin();
         it != db.rows_.end() && matched.size() < static_cast<size_t>(limit) &&
         it->second.notification->created_at_ms < cutoff_ms;
         ++it) {
      matched.insert(it->first);
    }
    return EraseLogged(matched);
  }

  absl::StatusOr<Rows> DeleteFromChannel(const std::string& channel,
                                         int64_t max_id,
                                         int64_t limit) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    std::set<uint64_t> matched;
    auto held = db.channels_.find(channel);
    if (held != db.channels_.end()) {
      for (auto it = held->second.begin();
           it != held->second.end() && *it <= static_cast<uint64_t>(max_id) &&
           matched.size() < static_cast<size_t>(limit);
           ++it) {
        matched.insert(*it);
      }
    }
    return EraseLogged(matched);
  }

  absl::StatusOr<std::optional<PushSubscription>> FindPushEndpoint(
      const std::string& endpoint) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto held = db.push_subscriptions_.find(endpoint);
    if (held == db.push_subscriptions_.end()) {
      return std::optional<PushSubscription>();
    }
    return std::optional<PushSubscription>(held->second);
  }

  absl::StatusOr<uint64_t> CountPushSubscriptions(
      const std::string& channel) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    uint64_t count = 0;
    for (const auto& [endpoint, s] : db.push_subscriptions_) {
      if (s.channel == channel) ++count;
    }
    return count;
  }

  absl::Status UpsertPushSubscription(const PushSubscription& s) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    LogSubscriptionUndo(s.endpoint);
    db.push_subscriptions_[s.endpoint] = s;
    return absl::OkStatus();
  }

  absl::StatusOr<bool> DeletePushSubscription(
      const std::string& endpoint, const std::string& channel) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto held = db.push_subscriptions_.find(endpoint);
    if (held == db.push_subscriptions_.end() ||
        (!channel.empty() && held->second.channel != channel)) {
      return false;
    }
    LogSubscriptionUndo(endpoint);
    db.push_subscriptions_.erase(held);
    return true;
  }

  absl::StatusOr<uint64_t> InsertPushed(const std::vector<uint64_t>& ids,
                                        int64_t now_ms) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    uint64_t marked = 0;
    for (uint64_t id : ids) {
      auto row = db.rows_.find(id);
      if (row == db.rows_.end() || row->second.pushed_at_ms != 0) continue;
      const Notification& n = *row->second.notification;
      if (n.is_record() || !IsInbox(n.channel)) continue;
      row->second.pushed_at_ms = now_ms;
      undo_.push_back([this, id] {
        db_->mu_.AssertHeld();
        db_->rows_.at(id).pushed_at_ms = 0;
      });
      ++marked;
    }
    return marked;
  }

 private:
  // Logs how to put back what `endpoint` holds now (or that it held none).
  void LogSubscriptionUndo(const std::string& endpoint) {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto held = db.push_subscriptions_.find(endpoint);
    std::optional<PushSubscription> before;
    if (held != db.push_subscriptions_.end()) before = held->second;
    undo_.push_back([this, endpoint, before = std::move(before)] {
      db_->mu_.AssertHeld();
      if (before) {
        db_->push_subscriptions_[endpoint] = *before;
      } else {
        db_->push_subscriptions_.erase(endpoint);
      }
    });
  }

  // Deletes the rows `ids`, logging how to put them back.
  Rows EraseLogged(const std::set<uint64_t>& ids) {
    db_->mu_.AssertHeld();
    Rows erased;
    for (uint64_t id : ids) {
      MemoryDatabase::Row row = db_->Erase(id);
      erased.push_back(MemoryDatabase::FlagsOf(*row.notification));
      undo_.push_back([this, row = std::move(row)]() mutable {
        db_->mu_.AssertHeld();
        db_->Put(std::move(row));
      });
    }
    return erased;
  }

  const std::shared_ptr<MemoryDatabase> db_;
  // How to undo what the running call changed, in order; run backwards.
  std::vector<std::function<void()>> undo_;
};

std::unique_ptr<StoreBackend> NewMemoryBackend(
    std::shared_ptr<MemoryDatabase> db) {
  return std::make_unique<MemoryBackend>(std::move(db));
}

}  // namespace notifyd::storage
