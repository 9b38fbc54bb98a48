#include "storage/store_pruner.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/thread_name.h"
#include "storage/write_ops.h"

namespace notifyd::storage {
namespace {

bool Prunes(const StoreOptions& options) {
  return options.retention > absl::ZeroDuration() ||
         options.max_per_channel > 0;
}

}  // namespace

StorePruner::StorePruner(const StoreOptions& options, StoreBackend& backend,
                         OnWriter on_writer)
    : options_(options), backend_(backend), on_writer_(std::move(on_writer)) {}

StorePruner::~StorePruner() { Stop(); }

void StorePruner::Start() {
  if (!Prunes(options_)) return;
  thread_ = std::thread([this] {
    NameThisThread("store-pruner");
    Loop();
  });
}

void StorePruner::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Waits for a PruneNow in progress.
  absl::MutexLock lock(&pass_mu_);
  stopped_ = true;
}

bool StorePruner::Stopping() {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

absl::StatusOr<uint64_t> StorePruner::PruneNow() {
  absl::MutexLock lock(&pass_mu_);
  return PassLocked();
}

void StorePruner::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&stop_mu_);
      stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                options_.prune_interval);
      if (stopping_) return;
    }
    absl::MutexLock lock(&pass_mu_);
    absl::StatusOr<uint64_t> deleted = PassLocked();
    if (!deleted.ok()) {
      Log(spdlog::level::warn, "store: retention pass failed",
          {{"error", deleted.status().ToString()}});
    } else if (*deleted > 0) {
      Log(spdlog::level::info, "store: retention removed notifications",
          {{"deleted", *deleted}});
    }
  }
}

absl::StatusOr<uint64_t> StorePruner::PassLocked() {
  if (stopped_) return absl::UnavailableError("store is closed");
  if (!Prunes(options_)) return 0;
  absl::StatusOr<WriteTransaction*> beside = backend_.PruneTransaction();
  if (!beside.ok()) return beside.status();
  auto run = [this, txn = *beside](PruneStep step) {
    return txn != nullptr ? step(*txn) : on_writer_(std::move(step));
  };
  const int64_t batch = options_.prune_batch;
  uint64_t deleted = 0;

  if (options_.retention > absl::ZeroDuration()) {
    const int64_t cutoff =
        options_.NowMs() - absl::ToInt64Milliseconds(options_.retention);
    for (;;) {
      absl::StatusOr<uint64_t> n = run([cutoff, batch](WriteTransaction& txn) {
        absl::StatusOr<WriteTransaction::Rows> rows =
            txn.DeleteOldest(cutoff, batch);
        if (!rows.ok()) return absl::StatusOr<uint64_t>(rows.status());
        return Uncount(txn, *rows);
      });
      if (!n.ok()) return n.status();
      deleted += *n;
      if (*n < static_cast<uint64_t>(batch) || Stopping()) break;
    }
  }

  if (options_.max_per_channel > 0) {
    // New rows only get larger ids, so deleting up to a cut taken from the
    // backend's snapshot still leaves at least max_per_channel rows.
    const auto keep = static_cast<int64_t>(std::min<uint64_t>(
        options_.max_per_channel, std::numeric_limits<int64_t>::max()));
    absl::StatusOr<std::vector<ChannelCut>> cuts =
        backend_.FindChannelCuts(keep);
    if (!cuts.ok()) return cuts.status();
    for (const ChannelCut& cut : *cuts) {
      for (;;) {
        if (Stopping()) return deleted;
        absl::StatusOr<uint64_t> n = run([&cut, batch](WriteTransaction& txn) {
          absl::StatusOr<WriteTransaction::Rows> rows =
              txn.DeleteFromChannel(cut.channel, cut.max_id, batch);
          if (!rows.ok()) return absl::StatusOr<uint64_t>(rows.status());
          return Uncount(txn, *rows);
        });
        if (!n.ok()) return n.status();
        deleted += *n;
        if (*n < static_cast<uint64_t>(batch)) break;
      }
    }
  }
  return deleted;
}

}  // namespace notifyd::storage
