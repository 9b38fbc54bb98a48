#include "storage/store.h"

#include <future>
#include <utility>

namespace notifyd::storage {
namespace {

// Runs `call` with a callback that fulfils a promise, then waits for it.
template <typename T, typename Call>
absl::StatusOr<T> Wait(Call call) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<T>>>();
  auto future = promise->get_future();
  call([promise](absl::StatusOr<T> result) {
    promise->set_value(std::move(result));
  });
  return future.get();
}

}  // namespace

void Store::MarkRead(MarkReadRequest request, Callback<uint64_t> done) {
  StateChange change;
  change.channel = std::move(request.channel);
  change.ids = std::move(request.ids);
  change.up_to_id = request.up_to_id;
  change.read = true;
  ChangeState(std::move(change),
              [done = std::move(done)](absl::StatusOr<ChangeResult> result) {
                if (!result.ok()) return done(result.status());
                done(result->changed);
              });
}

void Store::UnreadCount(std::string channel, Callback<uint64_t> done) {
  GetCounts(std::move(channel),
            [done = std::move(done)](absl::StatusOr<Counts> counts) {
              if (!counts.ok()) return done(counts.status());
              done(counts->unread);
            });
}

absl::StatusOr<AppendResult> AppendSync(Store& store, AppendRequest request) {
  return Wait<AppendResult>([&](Callback<AppendResult> done) {
    store.Append(std::move(request), std::move(done));
  });
}

absl::StatusOr<std::vector<AppendResult>> AppendManySync(
    Store& store, std::vector<AppendRequest> requests) {
  return Wait<std::vector<AppendResult>>(
      [&](Callback<std::vector<AppendResult>> done) {
        store.AppendMany(std::move(requests), std::move(done));
      });
}

absl::StatusOr<std::vector<Notification>> ListSync(Store& store,
                                                   ListQuery query) {
  return Wait<std::vector<Notification>>(
      [&](Callback<std::vector<Notification>> done) {
        store.List(std::move(query), std::move(done));
      });
}

absl::StatusOr<ReplayPage> ReplaySync(Store& store, ReplayQuery query) {
  return Wait<ReplayPage>([&](Callback<ReplayPage> done) {
    store.Replay(std::move(query), std::move(done));
  });
}

absl::StatusOr<uint64_t> MarkReadSync(Store& store, MarkReadRequest request) {
  return Wait<uint64_t>([&](Callback<uint64_t> done) {
    store.MarkRead(std::move(request), std::move(done));
  });
}

absl::StatusOr<ChangeResult> ChangeStateSync(Store& store, StateChange change) {
  return Wait<ChangeResult>([&](Callback<ChangeResult> done) {
    store.ChangeState(std::move(change), std::move(done));
  });
}

absl::StatusOr<ChangeResult> DeleteSync(Store& store, DeleteRequest request) {
  return Wait<ChangeResult>([&](Callback<ChangeResult> done) {
    store.Delete(std::move(request), std::move(done));
  });
}

absl::StatusOr<Counts> GetCountsSync(Store& store, std::string channel) {
  return Wait<Counts>([&](Callback<Counts> done) {
    store.GetCounts(std::move(channel), std::move(done));
  });
}

absl::StatusOr<uint64_t> UnreadCountSync(Store& store, std::string channel) {
  return Wait<uint64_t>([&](Callback<uint64_t> done) {
    store.UnreadCount(std::move(channel), std::move(done));
  });
}

absl::StatusOr<StoreStats> StatsSync(Store& store) {
  return Wait<StoreStats>(
      [&](Callback<StoreStats> done) { store.Stats(std::move(done)); });
}

absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
ReadIdRangeSync(Store& store, uint64_t after_id, uint64_t up_to_id,
                uint32_t limit) {
  using Rows = std::vector<std::shared_ptr<const Notification>>;
  return Wait<Rows>([&](Callback<Rows> done) {
    store.ReadIdRange(after_id, up_to_id, limit, std::move(done));
  });
}

absl::StatusOr<uint64_t> LastCommittedIdSync(Store& store) {
  return Wait<uint64_t>(
      [&](Callback<uint64_t> done) { store.LastCommittedId(std::move(done)); });
}

absl::StatusOr<PushPutResult> PutPushSubscriptionSync(
    Store& store, PushSubscription subscription) {
  return Wait<PushPutResult>([&](Callback<PushPutResult> done) {
    store.PutPushSubscription(std::move(subscription), std::move(done));
  });
}

absl::StatusOr<bool> RemovePushSubscriptionSync(Store& store,
                                                PushRemoval removal) {
  return Wait<bool>([&](Callback<bool> done) {
    store.RemovePushSubscription(std::move(removal), std::move(done));
  });
}

absl::StatusOr<std::vector<PushSubscription>> ListPushSubscriptionsSync(
    Store& store, std::string channel) {
  return Wait<std::vector<PushSubscription>>(
      [&](Callback<std::vector<PushSubscription>> done) {
        store.ListPushSubscriptions(std::move(channel), std::move(done));
      });
}

absl::StatusOr<PushSubscription> FindPushSubscriptionSync(
    Store& store, std::string secret_sha256) {
  return Wait<PushSubscription>([&](Callback<PushSubscription> done) {
    store.FindPushSubscription(std::move(secret_sha256), std::move(done));
  });
}

absl::StatusOr<uint64_t> MarkPushedSync(Store& store,
                                        std::vector<uint64_t> ids) {
  return Wait<uint64_t>([&](Callback<uint64_t> done) {
    store.MarkPushed(std::move(ids), std::move(done));
  });
}

absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidatesSync(Store& store, PushCandidatesQuery query) {
  using Rows = std::vector<std::shared_ptr<const Notification>>;
  return Wait<Rows>([&](Callback<Rows> done) {
    store.PushCandidates(std::move(query), std::move(done));
  });
}

}  // namespace notifyd::storage
