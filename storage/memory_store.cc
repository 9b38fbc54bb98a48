#include "storage/memory_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/memory_backend.h"
#include "storage/store_backend.h"

namespace notifyd::storage {
namespace {

uint64_t RowBytes(const Notification& n, const std::string& key) {
  return sizeof(Notification) + n.channel.size() + n.event.size() +
         n.data.size() + key.size() + n.collapse_key.size();
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
      const CountDelta c = Contribution(MemoryDatabase::FlagsOf(n));
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

FlagRow MemoryDatabase::FlagsOf(const Notification& n) {
  return FlagRow{.id = n.id,
                 .channel = n.channel,
                 .seen_at_ms = n.seen_at_ms,
                 .read_at_ms = n.read_at_ms,
                 .archived_at_ms = n.archived_at_ms,
                 .record = n.is_record()};
}

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
      const CountDelta c = Contribution(MemoryDatabase::FlagsOf(n));
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

  absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionsOf(
      const std::string& channel) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::vector<PushSubscription> rows;
    for (const auto& [endpoint, s] : db_->push_subscriptions_) {
      if (s.channel == channel) rows.push_back(s);
    }
    std::sort(rows.begin(), rows.end(),
              [](const PushSubscription& a, const PushSubscription& b) {
                return std::tie(a.created_at_ms, a.endpoint) <
                       std::tie(b.created_at_ms, b.endpoint);
              });
    return rows;
  }

  absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecret(
      const std::string& secret_sha256) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    for (const auto& [endpoint, s] : db_->push_subscriptions_) {
      if (s.secret_sha256 == secret_sha256) return s;
    }
    return std::nullopt;
  }

  absl::StatusOr<Rows> PushCandidates(const PushCandidatesQuery& query,
                                      int64_t now_ms) override {
    absl::ReaderMutexLock lock(&db_->mu_);
    std::set<std::string> subscribed;
    for (const auto& [endpoint, s] : db_->push_subscriptions_) {
      subscribed.insert(s.channel);
    }
    Rows rows;
    for (auto it = db_->rows_.upper_bound(query.after_id);
         it != db_->rows_.end() && rows.size() < query.limit; ++it) {
      const Notification& n = *it->second.notification;
      if (n.is_record() || n.seen() || n.read() || n.archived() ||
          n.created_at_ms > query.created_at_or_before_ms ||
          Expired(n, now_ms) || it->second.pushed_at_ms != 0 ||
          subscribed.count(n.channel) == 0) {
        continue;
      }
      rows.push_back(it->second.notification);
    }
    return rows;
  }

 private:
  const std::shared_ptr<MemoryDatabase> db_;
};

absl::StatusOr<std::unique_ptr<StoreEngine>> OpenMemoryStore(
    const MemoryStoreOptions& options) {
  return StoreEngine::Open(options, [&options]() -> absl::StatusOr<StoreParts> {
    std::shared_ptr<MemoryDatabase> db = options.database;
    if (db == nullptr) db = std::make_shared<MemoryDatabase>();
    StoreParts parts{NewMemoryBackend(db), {}};
    for (int i = 0; i < options.readers; ++i) {
      parts.readers.push_back(std::make_unique<MemoryReader>(db));
    }
    return parts;
  });
}

}  // namespace notifyd::storage