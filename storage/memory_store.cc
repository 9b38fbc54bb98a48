#include "storage/memory_store.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/store_backend.h"

namespace notifyd::storage {
namespace {

uint64_t RowBytes(const Notification& n, const std::string& key) {
  return sizeof(Notification) + n.channel.size() + n.event.size() +
         n.data.size() + key.size() + n.collapse_key.size();
}

FlagRow FlagsOf(const Notification& n) {
  return FlagRow{.id = n.id,
                 .channel = n.channel,
                 .seen_at_ms = n.seen_at_ms,
                 .read_at_ms = n.read_at_ms,
                 .archived_at_ms = n.archived_at_ms,
                 .record = n.is_record()};
}

bool Expired(const Notification& n, int64_t now_ms) {
  return n.expires_at_ms > 0 && n.expires_at_ms <= now_ms;
}

// Whether a listing with `filter` shows `n` (the same boxes and conditions
// as the SQL listings, flag_sql.h).
bool Shows(ListFilter filter, const Notification& n) {
  if (n.is_record()) return false;
  const FilterSql sql = ListFilterSql(filter);
  const int box = BoxOf(n.read_at_ms, n.archived_at_ms);
  if (std::find(sql.boxes.begin(), sql.boxes.end(), box) == sql.boxes.end()) {
    return false;
  }
  return filter != ListFilter::kUnseen || !n.seen();
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
    Row row = Erase(rows_.begin()->first);
    const Notification& n = *row.notification;
    if (IsInbox(n.channel)) {
      const CountDelta c = Contribution(FlagsOf(n));
      AddCounts(n.channel, -c.unread, -c.unseen);
    }
    ++deleted;
  }
  return deleted;
}

void MemoryDatabase::Put(Row row) {
  const Notification& n = *row.notification;
  channels_[n.channel].insert(n.id);
  if (!row.idempotency_key.empty()) {
    keys_.emplace(std::pair(n.channel, row.idempotency_key), n.id);
  }
  if (!n.collapse_key.empty())
    collapse_[{n.channel, n.collapse_key}].insert(n.id);
  if (n.expires_at_ms > 0) expiry_.insert({n.expires_at_ms, n.id});
  bytes_ += RowBytes(n, row.idempotency_key);
  const uint64_t id = n.id;
  rows_.emplace(id, std::move(row));
}

MemoryDatabase::Row MemoryDatabase::Erase(uint64_t id) {
  auto found = rows_.find(id);
  Row row = std::move(found->second);
  rows_.erase(found);
  const Notification& n = *row.notification;
  auto channel = channels_.find(n.channel);
  channel->second.erase(n.id);
  if (channel->second.empty()) channels_.erase(channel);
  if (!row.idempotency_key.empty()) {
    keys_.erase({n.channel, row.idempotency_key});
  }
  if (!n.collapse_key.empty()) {
    auto keyed = collapse_.find({n.channel, n.collapse_key});
    keyed->second.erase(n.id);
    if (keyed->second.empty()) collapse_.erase(keyed);
  }
  if (n.expires_at_ms > 0) expiry_.erase({n.expires_at_ms, n.id});
  bytes_ -= RowBytes(n, row.idempotency_key);
  return row;
}

Counts MemoryDatabase::AddCounts(const std::string& channel, int64_t unread,
                                 int64_t unseen) {
  Counts& counts = counts_[channel];
  counts.unread =
      static_cast<uint64_t>(static_cast<int64_t>(counts.unread) + unread);
  counts.unseen =
      static_cast<uint64_t>(static_cast<int64_t>(counts.unseen) + unseen);
  return counts;
}

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
      changed.push_back(FlagsOf(*after));
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

 private:
  // Deletes the rows `ids`, logging how to put them back.
  Rows EraseLogged(const std::set<uint64_t>& ids) {
    db_->mu_.AssertHeld();
    Rows erased;
    for (uint64_t id : ids) {
      MemoryDatabase::Row row = db_->Erase(id);
      erased.push_back(FlagsOf(*row.notification));
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

// The database as a reader thread sees it, under the shared lock.
class MemoryReader final : public StoreReader {
 public:
  explicit MemoryReader(std::shared_ptr<MemoryDatabase> db)
      : db_(std::move(db)) {}

  absl::StatusOr<std::vector<Notification>> List(const ListQuery& query,
                                                 int64_t now_ms) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::vector<Notification> rows;
    auto channel = db_->channels_.find(query.channel);
    if (channel == db_->channels_.end()) return rows;
    const std::set<uint64_t>& ids = channel->second;
    const uint64_t before = query.before_id == 0
                                ? std::numeric_limits<uint64_t>::max()
                                : query.before_id;
    for (auto it = ids.lower_bound(before);
         it != ids.begin() && rows.size() < query.limit;) {
      const Notification& n = *db_->rows_.at(*--it).notification;
      if (Shows(query.filter, n) && !Expired(n, now_ms)) rows.push_back(n);
    }
    return rows;
  }

  absl::StatusOr<ReplayPage> Replay(const ReplayQuery& query,
                                    int64_t now_ms) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    ReplayPage page;
    // The candidates: per channel at most limit + 1 unexpired ids (the
    // extra one tells whether more follow), merged.
    const size_t candidates = size_t{query.limit} + 1;
    std::vector<uint64_t> ids;
    for (const std::string& name : query.channels) {
      auto channel = db_->channels_.find(name);
      if (channel == db_->channels_.end()) continue;
      const std::set<uint64_t>& held = channel->second;
      if (page.oldest_id == 0 || *held.begin() < page.oldest_id) {
        page.oldest_id = *held.begin();
      }
      size_t taken = 0;
      for (auto it = held.upper_bound(query.after_id);
           it != held.end() && taken < candidates; ++it) {
        if (Expired(*db_->rows_.at(*it).notification, now_ms)) continue;
        ids.push_back(*it);
        ++taken;
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

  absl::StatusOr<Counts> ReadCounts(const std::string& channel,
                                    int64_t now_ms) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    auto kept = db_->counts_.find(channel);
    Counts counts = kept == db_->counts_.end() ? Counts{} : kept->second;
    // Less what expired notifications not yet deleted add.
    for (auto it = db_->expiry_.begin();
         it != db_->expiry_.end() && it->first <= now_ms; ++it) {
      const Notification& n = *db_->rows_.at(it->second).notification;
      if (n.channel != channel) continue;
      const CountDelta c = Contribution(FlagsOf(n));
      counts.unread -= static_cast<uint64_t>(c.unread);
      counts.unseen -= static_cast<uint64_t>(c.unseen);
    }
    return counts;
  }

  absl::StatusOr<bool> AnyExpired(int64_t now_ms) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    return !db_->expiry_.empty() && db_->expiry_.begin()->first <= now_ms;
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
