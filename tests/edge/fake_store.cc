#include "tests/edge/fake_store.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"

namespace notifyd::edge::testing {

FakeStore::FakeStore() : worker_([this] { Loop(); }) {}

FakeStore::~FakeStore() { Close(); }

std::shared_ptr<const storage::Notification> FakeStore::Add(
    const std::string& channel, const std::string& event,
    const std::string& data) {
  auto n = std::make_shared<storage::Notification>();
  n->channel = channel;
  n->event = event;
  n->data = data;
  std::lock_guard<std::mutex> lock(mu_);
  n->id = next_id_++;
  rows_.push_back(n);
  return n;
}

void FakeStore::PruneBelow(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  rows_.erase(std::remove_if(rows_.begin(), rows_.end(),
                             [id](const auto& n) { return n->id < id; }),
              rows_.end());
}

void FakeStore::Run(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.push_back(std::move(task));
  cv_.notify_one();
}

void FakeStore::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void FakeStore::Append(storage::AppendRequest request,
                       storage::Callback<storage::AppendResult> done) {
  auto n = Add(request.channel, request.event, request.data);
  Run([n, done = std::move(done)] { done(storage::AppendResult{n, false}); });
}

void FakeStore::List(
    storage::ListQuery,
    storage::Callback<std::vector<storage::Notification>> done) {
  Run([done = std::move(done)] {
    done(absl::UnimplementedError("FakeStore::List"));
  });
}

void FakeStore::Replay(storage::ReplayQuery query,
                       storage::Callback<storage::ReplayPage> done) {
  ++replay_calls_;
  Run([this, query = std::move(query), done = std::move(done)] {
    storage::ReplayPage page;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto on_channels = [&](const storage::Notification& n) {
        return std::find(query.channels.begin(), query.channels.end(),
                         n.channel) != query.channels.end();
      };
      uint64_t bytes = 0;
      bool full = false;
      for (const auto& n : rows_) {
        if (!on_channels(*n)) continue;
        if (page.oldest_id == 0) page.oldest_id = n->id;
        if (n->id <= query.after_id) continue;
        // Within `limit` and `max_bytes`, but never an empty page while a
        // row matches (storage/store.h).
        full = full || page.notifications.size() >= query.limit ||
               (query.max_bytes > 0 && !page.notifications.empty() &&
                bytes + n->data.size() > query.max_bytes);
        if (full) {
          page.more = true;
          continue;
        }
        bytes += n->data.size();
        page.notifications.push_back(n);
      }
      page.last_committed_id = next_id_ - 1;
    }
    done(std::move(page));
  });
}

void FakeStore::MarkRead(storage::MarkReadRequest,
                         storage::Callback<uint64_t> done) {
  Run([done = std::move(done)] { done(uint64_t{0}); });
}

void FakeStore::UnreadCount(std::string, storage::Callback<uint64_t> done) {
  Run([done = std::move(done)] { done(uint64_t{0}); });
}

void FakeStore::Stats(storage::Callback<storage::StoreStats> done) {
  Run([done = std::move(done)] { done(storage::StoreStats{}); });
}

void FakeStore::ReadIdRange(
    uint64_t after_id, uint64_t up_to_id, uint32_t limit,
    storage::Callback<std::vector<std::shared_ptr<const storage::Notification>>>
        done) {
  Run([this, after_id, up_to_id, limit, done = std::move(done)] {
    std::vector<std::shared_ptr<const storage::Notification>> rows;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& n : rows_) {
        if (n->id > after_id && n->id <= up_to_id && rows.size() < limit) {
          rows.push_back(n);
        }
      }
    }
    done(std::move(rows));
  });
}

void FakeStore::LastCommittedId(storage::Callback<uint64_t> done) {
  Run([this, done = std::move(done)] {
    uint64_t last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = next_id_ - 1;
    }
    done(last);
  });
}

void FakeStore::Ping(storage::Callback<bool> done) {
  Run([this, done = std::move(done)] {
    if (ping_ok_) {
      done(true);
    } else {
      done(absl::UnavailableError("fake store is down"));
    }
  });
}

void FakeStore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_ && !worker_.joinable()) return;
    closing_ = true;
    cv_.notify_one();
  }
  if (worker_.joinable()) worker_.join();
}

}  // namespace notifyd::edge::testing
