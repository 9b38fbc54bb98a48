// An in-memory storage::Store for edge tests: a vector of notifications and
// one worker thread that runs every callback (the real store also calls back
// on its own thread, never the caller's).
//
// Thread-safe. Tests seed it with Add() (synchronous) and may Prune() old
// ids to simulate retention. Replay pages honour limit and max_bytes as the
// real stores do (storage/store.h), and replay_calls() counts them.
#ifndef NOTIFYD_TESTS_EDGE_FAKE_STORE_H_
#define NOTIFYD_TESTS_EDGE_FAKE_STORE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"

namespace notifyd::edge::testing {

class FakeStore : public storage::Store {
 public:
  FakeStore();
  ~FakeStore() override;

  // Stores a notification synchronously and returns it (ids 1, 2, ...).
  std::shared_ptr<const storage::Notification> Add(const std::string& channel,
                                                   const std::string& event,
                                                   const std::string& data);
  // Deletes every notification with id < `id` (retention).
  void PruneBelow(uint64_t id);
  void set_ping_ok(bool ok) { ping_ok_ = ok; }
  int replay_calls() const { return replay_calls_; }

  void Append(storage::AppendRequest request,
              storage::Callback<storage::AppendResult> done) override;
  void List(
      storage::ListQuery query,
      storage::Callback<std::vector<storage::Notification>> done) override;
  void Replay(storage::ReplayQuery query,
              storage::Callback<storage::ReplayPage> done) override;
  void MarkRead(storage::MarkReadRequest request,
                storage::Callback<uint64_t> done) override;
  void UnreadCount(std::string channel,
                   storage::Callback<uint64_t> done) override;
  void Stats(storage::Callback<storage::StoreStats> done) override;
  void ReadIdRange(
      uint64_t after_id, uint64_t up_to_id, uint32_t limit,
      storage::Callback<
          std::vector<std::shared_ptr<const storage::Notification>>>
          done) override;
  void LastCommittedId(storage::Callback<uint64_t> done) override;
  void Ping(storage::Callback<bool> done) override;
  void Close() override;

 private:
  void Run(std::function<void()> task);
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<const storage::Notification>> rows_;
  uint64_t next_id_ = 1;
  std::deque<std::function<void()>> tasks_;
  bool closing_ = false;
  std::atomic<bool> ping_ok_{true};
  std::atomic<int> replay_calls_{0};
  std::thread worker_;
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_FAKE_STORE_H_
