#include "tests/edge/fake_store.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge::testing {
namespace {

// One reader, so replies come back in the order the calls were made, as
// they did from the single worker this fake used to have.
std::unique_ptr<storage::StoreEngine> OpenStore(
    std::shared_ptr<storage::MemoryDatabase> database) {
  storage::MemoryStoreOptions options;
  options.database = std::move(database);
  options.readers = 1;
  options.commit_delay = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<storage::StoreEngine>> store =
      storage::OpenMemoryStore(options);
  if (!store.ok()) {
    spdlog::critical("FakeStore: {}", store.status().ToString());
    std::abort();
  }
  return *std::move(store);
}

}  // namespace

FakeStore::FakeStore()
    : database_(std::make_shared<storage::MemoryDatabase>()),
      store_(OpenStore(database_)) {}

FakeStore::~FakeStore() { Close(); }

std::shared_ptr<const storage::Notification> FakeStore::Add(
    const std::string& channel, const std::string& event,
    const std::string& data) {
  absl::StatusOr<storage::AppendResult> added =
      storage::AppendSync(*store_, {channel, event, data, ""});
  return added.ok() ? added->notification : nullptr;
}

void FakeStore::Append(storage::AppendRequest request,
                       storage::Callback<storage::AppendResult> done) {
  store_->Append(std::move(request), std::move(done));
}

void FakeStore::AppendMany(
    std::vector<storage::AppendRequest> requests,
    storage::Callback<std::vector<storage::AppendResult>> done) {
  store_->AppendMany(std::move(requests), std::move(done));
}

void FakeStore::List(
    storage::ListQuery query,
    storage::Callback<std::vector<storage::Notification>> done) {
  store_->List(std::move(query), std::move(done));
}

void FakeStore::Replay(storage::ReplayQuery query,
                       storage::Callback<storage::ReplayPage> done) {
  // A stream's first read of counts (limit 0) reads no history.
  if (query.limit > 0) ++replay_calls_;
  store_->Replay(std::move(query), std::move(done));
}

void FakeStore::ChangeState(storage::StateChange change,
                            storage::Callback<storage::ChangeResult> done) {
  store_->ChangeState(std::move(change), std::move(done));
}

void FakeStore::Delete(storage::DeleteRequest request,
                       storage::Callback<storage::ChangeResult> done) {
  store_->Delete(std::move(request), std::move(done));
}

void FakeStore::GetCounts(std::string channel,
                          storage::Callback<storage::Counts> done) {
  store_->GetCounts(std::move(channel), std::move(done));
}

void FakeStore::Stats(storage::Callback<storage::StoreStats> done) {
  store_->Stats(std::move(done));
}

void FakeStore::ReadIdRange(
    uint64_t after_id, uint64_t up_to_id, uint32_t limit,
    storage::Callback<std::vector<std::shared_ptr<const storage::Notification>>>
        done) {
  store_->ReadIdRange(after_id, up_to_id, limit, std::move(done));
}

void FakeStore::LastCommittedId(storage::Callback<uint64_t> done) {
  store_->LastCommittedId(std::move(done));
}

void FakeStore::Ping(storage::Callback<bool> done) {
  store_->Ping([this, done = std::move(done)](absl::StatusOr<bool> pong) {
    if (ping_ok_) {
      done(std::move(pong));
    } else {
      done(absl::UnavailableError("fake store is down"));
    }
  });
}

void FakeStore::PutPushSubscription(
    storage::PushSubscription subscription,
    storage::Callback<storage::PushPutResult> done) {
  store_->PutPushSubscription(std::move(subscription), std::move(done));
}

void FakeStore::RemovePushSubscription(storage::PushRemoval removal,
                                       storage::Callback<bool> done) {
  store_->RemovePushSubscription(std::move(removal), std::move(done));
}

void FakeStore::ListPushSubscriptions(
    std::string channel,
    storage::Callback<std::vector<storage::PushSubscription>> done) {
  store_->ListPushSubscriptions(std::move(channel), std::move(done));
}

void FakeStore::FindPushSubscription(
    std::string secret_sha256,
    storage::Callback<storage::PushSubscription> done) {
  store_->FindPushSubscription(std::move(secret_sha256), std::move(done));
}

void FakeStore::MarkPushed(std::vector<uint64_t> ids,
                           storage::Callback<uint64_t> done) {
  store_->MarkPushed(std::move(ids), std::move(done));
}

void FakeStore::PushCandidates(
    storage::PushCandidatesQuery query,
    storage::Callback<std::vector<std::shared_ptr<const storage::Notification>>>
        done) {
  store_->PushCandidates(std::move(query), std::move(done));
}

void FakeStore::Close() { store_->Close(); }

}  // namespace notifyd::edge::testing
