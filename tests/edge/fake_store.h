// The store the edge tests run against: the in-memory store
// (storage/memory_store.h, the same engine and contract as SQLite and
// PostgreSQL) with the hooks those tests use.
//
// Thread-safe. Tests seed it with Add() (synchronous; never from a store
// callback), may PruneBelow() old ids to simulate retention, make Ping
// fail with set_ping_ok(false), and count Replay calls with
// replay_calls(). Every other call goes to the memory store as is.
#ifndef NOTIFYD_TESTS_EDGE_FAKE_STORE_H_
#define NOTIFYD_TESTS_EDGE_FAKE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/memory_store.h"
#include "storage/store.h"

namespace notifyd::edge::testing {

class FakeStore : public storage::Store {
 public:
  FakeStore();
  ~FakeStore() override;

  // Stores a notification and returns it (ids 1, 2, ...).
  std::shared_ptr<const storage::Notification> Add(const std::string& channel,
                                                   const std::string& event,
                                                   const std::string& data);
  // Deletes every notification with id < `id` (retention).
  void PruneBelow(uint64_t id) { database_->DeleteBelow(id); }
  void set_ping_ok(bool ok) { ping_ok_ = ok; }
  // Replay calls that read history (a limit above 0).
  int replay_calls() const { return replay_calls_; }

  void Append(storage::AppendRequest request,
              storage::Callback<storage::AppendResult> done) override;
  void AppendMany(
      std::vector<storage::AppendRequest> requests,
      storage::Callback<std::vector<storage::AppendResult>> done) override;
  void List(
      storage::ListQuery query,
      storage::Callback<std::vector<storage::Notification>> done) override;
  void Replay(storage::ReplayQuery query,
              storage::Callback<storage::ReplayPage> done) override;
  void ChangeState(storage::StateChange change,
                   storage::Callback<storage::ChangeResult> done) override;
  void Delete(storage::DeleteRequest request,
              storage::Callback<storage::ChangeResult> done) override;
  void GetCounts(std::string channel,
                 storage::Callback<storage::Counts> done) override;
  void Stats(storage::Callback<storage::StoreStats> done) override;
  void ReadIdRange(
      uint64_t after_id, uint64_t up_to_id, uint32_t limit,
      storage::Callback<
          std::vector<std::shared_ptr<const storage::Notification>>>
          done) override;
  void LastCommittedId(storage::Callback<uint64_t> done) override;
  void Ping(storage::Callback<bool> done) override;
  void PutPushSubscription(
      storage::PushSubscription subscription,
      storage::Callback<storage::PushPutResult> done) override;
  void RemovePushSubscription(storage::PushRemoval removal,
                              storage::Callback<bool> done) override;
  void ListPushSubscriptions(
      std::string channel,
      storage::Callback<std::vector<storage::PushSubscription>> done) override;
  void FindPushSubscription(
      std::string secret_sha256,
      storage::Callback<storage::PushSubscription> done) override;
  void MarkPushed(std::vector<uint64_t> ids,
                  storage::Callback<uint64_t> done) override;
  void PushCandidates(
      storage::PushCandidatesQuery query,
      storage::Callback<
          std::vector<std::shared_ptr<const storage::Notification>>>
          done) override;
  void Close() override;

 private:
  const std::shared_ptr<storage::MemoryDatabase> database_;
  const std::unique_ptr<storage::StoreEngine> store_;
  std::atomic<bool> ping_ok_{true};
  std::atomic<int> replay_calls_{0};
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_FAKE_STORE_H_
