#include "edge/hub.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "common/log.h"

namespace notifyd::edge {

Hub::Hub(Metrics& metrics)
    : published_(metrics.GetCounter("notifyd_events_published_total",
                                    "Notifications handed to the SSE hub")),
      delivered_(metrics.GetCounter(
          "notifyd_events_delivered_total",
          "Live notifications queued to SSE streams, summed over streams")) {}

Hub::~Hub() = default;

Hub::Shard& Hub::ShardFor(const std::string& channel) const {
  return shards_[absl::Hash<std::string>{}(channel) % kShards];
}

size_t Hub::Publish(const std::shared_ptr<const storage::Notification>& n) {
  published_.Inc();
  absl::StatusOr<FramePtr> frame = EncodeNotification(*n);
  if (!frame.ok()) {
    Log(spdlog::level::err,
        "hub: dropping a notification that cannot be framed",
        {{"id", n->id},
         {"channel", n->channel},
         {"error", frame.status().message()},
         {"trace_id", n->trace_id}});
    return 0;
  }
  const size_t queued = FanOut(n->channel, *frame);
  delivered_.Inc(queued);
  Log(spdlog::level::debug, "delivered",
      {{"id", n->id},
       {"channel", n->channel},
       {"streams", queued},
       {"trace_id", n->trace_id}});
  return queued;
}

size_t Hub::FanOut(const std::string& channel, const FramePtr& frame) {
  size_t queued = 0;
  std::vector<std::pair<const Subscriber*, std::weak_ptr<Subscriber>>> dead;
  // Strong references taken under the lock are released only after it: the
  // last reference to a session may be ours, and its destructor unsubscribes,
  // which takes this shard's writer lock.
  std::vector<std::shared_ptr<Subscriber>> alive;
  Shard& shard = ShardFor(channel);
  {
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.channels.find(channel);
    if (it == shard.channels.end()) return 0;
    alive.reserve(it->second.size());
    for (const auto& [key, weak] : it->second) {
      std::shared_ptr<Subscriber> s = weak.lock();
      if (s != nullptr && s->Deliver(frame)) {
        ++queued;
      } else {
        dead.emplace_back(key, weak);
      }
      if (s != nullptr) alive.push_back(std::move(s));
    }
  }
  alive.clear();
  if (!dead.empty()) Prune(channel, dead);
  return queued;
}

void Hub::Prune(
    const std::string& channel,
    const std::vector<std::pair<const Subscriber*, std::weak_ptr<Subscriber>>>&
        dead) {
  Shard& shard = ShardFor(channel);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.channels.find(channel);
  if (it == shard.channels.end()) return;
  for (const auto& [key, weak] : dead) {
    // Erase only the very entry we saw: the address may already belong to a
    // new subscriber (same key, different control block).
    auto entry = it->second.find(key);
    if (entry != it->second.end() && !entry->second.owner_before(weak) &&
        !weak.owner_before(entry->second)) {
      it->second.erase(entry);
    }
  }
  if (it->second.empty()) shard.channels.erase(it);
}

void Hub::Subscribe(const std::shared_ptr<Subscriber>& subscriber,
                    const std::vector<std::string>& channels) {
  for (const std::string& channel : channels) {
    Shard& shard = ShardFor(channel);
    absl::MutexLock lock(&shard.mu);
    shard.channels[channel].insert_or_assign(subscriber.get(), subscriber);
  }
  connections_.fetch_add(1, std::memory_order_relaxed);
}

void Hub::Unsubscribe(const Subscriber* subscriber,
                      const std::vector<std::string>& channels) {
  for (const std::string& channel : channels) {
    Shard& shard = ShardFor(channel);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.channels.find(channel);
    if (it == shard.channels.end()) continue;
    it->second.erase(subscriber);
    if (it->second.empty()) shard.channels.erase(it);
  }
  connections_.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t Hub::Connections() const {
  return connections_.load(std::memory_order_relaxed);
}

std::vector<std::pair<std::string, uint64_t>> Hub::TopChannels(size_t n) const {
  std::vector<std::pair<std::string, uint64_t>> all;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    for (const auto& [channel, subs] : shard.channels) {
      all.emplace_back(channel, subs.size());
    }
  }
  auto by_count_desc = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end(), by_count_desc);
  all.resize(n);
  return all;
}

uint64_t Hub::DeliveredTotal() const { return delivered_.Value(); }

size_t Hub::SubscriberCount(const std::string& channel) const {
  Shard& shard = ShardFor(channel);
  absl::ReaderMutexLock lock(&shard.mu);
  auto it = shard.channels.find(channel);
  return it == shard.channels.end() ? 0 : it->second.size();
}

}  // namespace notifyd::edge
