#include "storage/memory_store.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "storage/store_backend.h"

namespace notifyd::storage {
namespace {

uint64_t RowBytes(const Notification& n, const std::string& key) {
  return sizeof(Notification) + n.channel.size() + n.event.size() +
         n.data.size() + key.size();
}

}  // namespace

void MemoryDatabase::SetWriteCheck(WriteCheck check) {
  absl::MutexLock lock(&mu_);
  check_ = std::move(check);
}

int64_t MemoryDatabase::CountRowsWithId(uint64_t id) {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(rows_.count(id));
}

uint64_t MemoryDatabase::DeleteBelow(uint64_t id) {
  absl::MutexLock lock(&mu_);
  uint64_t deleted = 0;
  while (!rows_.empty() && rows_.begin()->first < id) {
    Erase(rows_.begin());
    ++deleted;
  }
  return deleted;
}

void MemoryDatabase::Erase(std::map<uint64_t, Row>::iterator row) {
  const Notification& n = *row->second.notification;
  auto channel = channels_.find(n.channel);
  channel->second.ids.erase(n.id);
  if (!n.read) --channel->second.unread;
  if (channel->second.ids.empty()) channels_.erase(channel);
  if (!row->second.idempotency_key.empty()) {
    keys_.erase({n.channel, row->second.idempotency_key});
  }
  bytes_ -= RowBytes(n, row->second.idempotency_key);
  rows_.erase(row);
}

// The database as the writer sees it: it applies a whole batch under the
// exclusive lock, so a batch becomes visible at once, like a commit. The
// write methods run only inside CommitBatch.
class MemoryBackend final : public StoreBackend, public WriteTransaction {
 public:
  explicit MemoryBackend(std::shared_ptr<MemoryDatabase> db)
      : db_(std::move(db)) {}

  // StoreBackend:
  bool CommitBatch(const std::vector<std::unique_ptr<WriteOp>>& ops,
                   std::vector<absl::Status>& results) override {
    absl::MutexLock lock(&db_->mu_);
    // Each write checks everything before it changes anything, so a failed
    // call leaves nothing behind.
    for (size_t i = 0; i < ops.size(); ++i) results[i] = ops[i]->Run(*this);
    return true;
  }

  absl::StatusOr<WriteTransaction*> PruneTransaction() override {
    return nullptr;
  }

  absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(
      int64_t keep) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::vector<ChannelCut> cuts;
    for (const auto& [name, channel] : db_->channels_) {
      if (channel.ids.size() <= static_cast<uint64_t>(keep)) continue;
      cuts.push_back({name, static_cast<int64_t>(
                                *std::prev(channel.ids.end(), keep + 1))});
    }
    return cuts;
  }

  // WriteTransaction:
  absl::StatusOr<Inserted> Insert(const AppendRequest& request,
                                  int64_t now_ms) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    const std::string& key = request.idempotency_key;
    if (!key.empty()) {
      auto seen = db.keys_.find({request.channel, key});
      if (seen != db.keys_.end()) {
        return Inserted{seen->second, db.rows_.at(seen->second).notification,
                        /*duplicate=*/true};
      }
    }
    auto n = std::make_shared<Notification>();
    n->id = db.last_id_ + 1;
    n->channel = request.channel;
    n->event = request.event;
    n->data = request.data;
    n->created_at_ms = now_ms;
    if (db.check_) {
      if (absl::Status s = db.check_(MemoryDatabase::Write::kInsert, *n);
          !s.ok()) {
        return s;
      }
    }
    db.last_id_ = n->id;
    db.bytes_ += RowBytes(*n, key);
    MemoryDatabase::Channel& channel = db.channels_[n->channel];
    channel.ids.insert(n->id);
    ++channel.unread;
    if (!key.empty()) db.keys_.emplace(std::pair(n->channel, key), n->id);
    db.rows_.emplace(n->id, MemoryDatabase::Row{n, key});
    return Inserted{n->id, std::move(n), /*duplicate=*/false};
  }

  absl::StatusOr<uint64_t> MarkRead(const MarkReadRequest& request) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    auto channel = db.channels_.find(request.channel);
    if (channel == db.channels_.end()) return 0;
    const std::set<uint64_t>& ids = channel->second.ids;
    // Unread rows of the channel, each once, however often it is named.
    std::set<uint64_t> marked;
    auto unread = [&db](uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db.mu_) {
      return !db.rows_.at(id).notification->read;
    };
    for (auto it = ids.begin(); it != ids.end() && *it <= request.up_to_id;
         ++it) {
      if (unread(*it)) marked.insert(*it);
    }
    for (uint64_t id : request.ids) {
      if (ids.count(id) > 0 && unread(id)) marked.insert(id);
    }
    for (uint64_t id : marked) {
      if (!db.check_) break;
      const Notification& row = *db.rows_.at(id).notification;
      if (absl::Status s = db.check_(MemoryDatabase::Write::kMarkRead, row);
          !s.ok()) {
        return s;
      }
    }
    for (uint64_t id : marked) {
      // Copied, not changed: readers may hold the old row.
      std::shared_ptr<const Notification>& row = db.rows_.at(id).notification;
      auto read = std::make_shared<Notification>(*row);
      read->read = true;
      row = std::move(read);
    }
    channel->second.unread -= marked.size();
    return marked.size();
  }

  absl::StatusOr<uint64_t> DeleteOldest(int64_t cutoff_ms,
                                        int64_t limit) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    uint64_t deleted = 0;
    while (deleted < static_cast<uint64_t>(limit) && !db.rows_.empty() &&
           db.rows_.begin()->second.notification->created_at_ms < cutoff_ms) {
      db.Erase(db.rows_.begin());
      ++deleted;
    }
    return deleted;
  }

  absl::StatusOr<uint64_t> DeleteFromChannel(const std::string& channel,
                                             int64_t max_id,
                                             int64_t limit) override {
    MemoryDatabase& db = *db_;
    db.mu_.AssertHeld();
    uint64_t deleted = 0;
    while (deleted < static_cast<uint64_t>(limit)) {
      auto found = db.channels_.find(channel);
      if (found == db.channels_.end()) break;
      const uint64_t oldest = *found->second.ids.begin();
      if (oldest > static_cast<uint64_t>(max_id)) break;
      db.Erase(db.rows_.find(oldest));
      ++deleted;
    }
    return deleted;
  }

 private:
  const std::shared_ptr<MemoryDatabase> db_;
};

// The database as a reader thread sees it, under the shared lock.
class MemoryReader final : public StoreReader {
 public:
  explicit MemoryReader(std::shared_ptr<MemoryDatabase> db)
      : db_(std::move(db)) {}

  absl::StatusOr<std::vector<Notification>> List(
      const ListQuery& query) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::vector<Notification> rows;
    auto channel = db_->channels_.find(query.channel);
    if (channel == db_->channels_.end()) return rows;
    const std::set<uint64_t>& ids = channel->second.ids;
    const uint64_t before = query.before_id == 0
                                ? std::numeric_limits<uint64_t>::max()
                                : query.before_id;
    for (auto it = ids.lower_bound(before);
         it != ids.begin() && rows.size() < query.limit;) {
      const Notification& n = *db_->rows_.at(*--it).notification;
      if (!query.unread_only || !n.read) rows.push_back(n);
    }
    return rows;
  }

  absl::StatusOr<ReplayPage> Replay(const ReplayQuery& query) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    ReplayPage page;
    // The candidates: per channel at most limit + 1 ids (the extra one
    // tells whether more follow), merged.
    const size_t candidates = size_t{query.limit} + 1;
    std::vector<uint64_t> ids;
    for (const std::string& name : query.channels) {
      auto channel = db_->channels_.find(name);
      if (channel == db_->channels_.end()) continue;
      const std::set<uint64_t>& held = channel->second.ids;
      if (page.oldest_id == 0 || *held.begin() < page.oldest_id) {
        page.oldest_id = *held.begin();
      }
      size_t taken = 0;
      for (auto it = held.upper_bound(query.after_id);
           it != held.end() && taken < candidates; ++it, ++taken) {
        ids.push_back(*it);
      }
    }
    std::sort(ids.begin(), ids.end());
    if (ids.size() > candidates) ids.resize(candidates);
    // Then the page, within the limit and the byte budget (the first row
    // always).
    uint64_t bytes = 0;
    for (size_t i = 0; i < ids.size() && i < query.limit; ++i) {
      const std::shared_ptr<const Notification>& n =
          db_->rows_.at(ids[i]).notification;
      if (query.max_bytes > 0 && !page.notifications.empty() &&
          bytes + n->data.size() > query.max_bytes) {
        break;
      }
      bytes += n->data.size();
      page.notifications.push_back(n);
    }
    page.more = page.notifications.size() < ids.size();
    page.last_committed_id = db_->last_id_;
    return page;
  }

  absl::StatusOr<uint64_t> UnreadCount(const std::string& name) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    auto channel = db_->channels_.find(name);
    return channel == db_->channels_.end() ? 0 : channel->second.unread;
  }

  absl::StatusOr<StoreStats> Stats() override {
    absl::ReaderMutexLock lock(&db_->mu_);
    return StoreStats{.notifications = db_->rows_.size(), .bytes = db_->bytes_};
  }

  absl::StatusOr<Rows> ReadIdRange(uint64_t after_id, uint64_t up_to_id,
                                   uint32_t limit) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    Rows rows;
    for (auto it = db_->rows_.upper_bound(after_id);
         it != db_->rows_.end() && it->first <= up_to_id && rows.size() < limit;
         ++it) {
      rows.push_back(it->second.notification);
    }
    return rows;
  }

  absl::StatusOr<uint64_t> LastCommittedId() override {
    absl::ReaderMutexLock lock(&db_->mu_);
    return db_->last_id_;
  }

  absl::StatusOr<bool> Ping() override { return true; }

 private:
  const std::shared_ptr<MemoryDatabase> db_;
};

absl::StatusOr<std::unique_ptr<StoreEngine>> OpenMemoryStore(
    const MemoryStoreOptions& options) {
  return StoreEngine::Open(options, [&options]() -> absl::StatusOr<StoreParts> {
    std::shared_ptr<MemoryDatabase> db = options.database;
    if (db == nullptr) db = std::make_shared<MemoryDatabase>();
    StoreParts parts{std::make_unique<MemoryBackend>(db), {}};
    for (int i = 0; i < options.readers; ++i) {
      parts.readers.push_back(std::make_unique<MemoryReader>(db));
    }
    return parts;
  });
}

}  // namespace notifyd::storage
