#include "storage/store_engine.h"

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "storage/append_ops.h"
#include "storage/inbox.h"
#include "storage/push_ops.h"
#include "storage/write_ops.h"

namespace notifyd::storage {
namespace {

absl::Status Closed() { return absl::UnavailableError("store is closed"); }

// Delivers a result on a thread of its own: the contract forbids calling
// back on the caller's thread, and the store's threads may be gone.
template <typename T>
void CallBackLater(Callback<T> done, absl::Status status) {
  std::thread([done = std::move(done), status = std::move(status)] {
    done(status);
  }).detach();
}

// The limits of store.h, checked before anything is queued.
absl::Status CheckRows(uint32_t limit) {
  if (limit <= kMaxPageRows) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "a store call reads at most ", kMaxPageRows, " rows, not ", limit));
}

// A write that answers with a count of rows (a delete batch): `fn(txn)`
// runs it. A lambda, so nothing more is allocated.
template <typename Fn>
class CountOp final : public WriteOp {
 public:
  CountOp(Kind kind, Fn fn, Callback<uint64_t> done)
      : WriteOp(kind), fn_(std::move(fn)), done_(std::move(done)) {}

  absl::Status Run(WriteTransaction& txn) override {
    count_ = fn_(txn);
    return count_.status();
  }

 private:
  void Finish(absl::Status status) override {
    done_(status.ok() ? std::move(count_) : std::move(status));
  }

  Fn fn_;
  Callback<uint64_t> done_;
  absl::StatusOr<uint64_t> count_ = absl::UnknownError("not run");
};

template <typename Fn>
std::unique_ptr<WriteOp> MakeCountOp(WriteOp::Kind kind, Fn fn,
                                     Callback<uint64_t> done) {
  return std::make_unique<CountOp<Fn>>(kind, std::move(fn), std::move(done));
}

// Runs `make(callback)`'s operation through `submit` and waits for it.
template <typename Submit, typename Make>
absl::StatusOr<uint64_t> WaitForWrite(Submit submit, Make make) {
  std::promise<absl::StatusOr<uint64_t>> promise;
  std::future<absl::StatusOr<uint64_t>> future = promise.get_future();
  submit(make([&promise](absl::StatusOr<uint64_t> result) {
    promise.set_value(std::move(result));
  }));
  return future.get();
}

}  // namespace

// --- Opening and closing

absl::StatusOr<std::unique_ptr<StoreEngine>> StoreEngine::Open(
    const StoreOptions& options, OpenBackend open) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  absl::StatusOr<StoreParts> parts = open();
  if (!parts.ok()) return parts.status();
  std::unique_ptr<StoreEngine> engine(
      new StoreEngine(options, *std::move(parts)));
  engine->Start();
  return engine;
}

StoreEngine::StoreEngine(const StoreOptions& options, StoreParts parts)
    : options_(options),
      parts_(std::move(parts)),
      pruner_(options_, *parts_.backend, [this](PruneStep step) {
        return DeleteOnWriter(std::move(step));
      }) {}

StoreEngine::~StoreEngine() { Close(); }

void StoreEngine::Start() {
  completer_ = std::thread([this] {
    NameThisThread("store-complete");
    CompleterLoop();
  });
  writer_ = std::thread([this] {
    NameThisThread("store-writer");
    WriterLoop();
  });
  for (std::unique_ptr<StoreReader>& reader : parts_.readers) {
    readers_.emplace_back([this, reader = reader.get()] {
      NameThisThread("store-reader");
      ReaderLoop(*reader);
    });
  }
  pruner_.Start();
  expirer_ = std::thread([this] {
    NameThisThread("store-expirer");
    ExpirerLoop();
  });
}

void StoreEngine::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;

  // First, while the writer still takes their deletes.
  pruner_.Stop();
  {
    absl::MutexLock lock(&expirer_mu_);
    expirer_stopping_ = true;
  }
  if (expirer_.joinable()) expirer_.join();
  // Each stage drains what the one before it handed over, in order.
  write_queue_.Close();
  if (writer_.joinable()) writer_.join();
  complete_queue_.Close();
  if (completer_.joinable()) completer_.join();
  read_queue_.Close();
  for (std::thread& reader : readers_) reader.join();
  readers_.clear();
  parts_.readers.clear();
  parts_.backend.reset();
}

// --- The threads

void StoreEngine::SubmitWrite(std::unique_ptr<WriteOp> op) {
  if (write_queue_.Push(op)) return;
  std::thread([op = std::move(op)] { op->Finish(Closed()); }).detach();
}

template <typename T, typename Fn>
void StoreEngine::SubmitRead(Fn fn, Callback<T> done) {
  ReadTask task = [fn = std::move(fn), done](StoreReader& reader) mutable {
    done(fn(reader));
  };
  if (read_queue_.Push(task)) return;
  CallBackLater(std::move(done), Closed());
}

void StoreEngine::WriterLoop() {
  const size_t max_batch = options_.max_batch;
  const size_t delayed_batch = std::min(max_batch, options_.commit_delay_batch);
  std::vector<std::unique_ptr<WriteOp>> batch;
  size_t previous_batch = 0;
  // Returns false once closed and drained: everything queued before Close()
  // has run.
  while (write_queue_.PopUpTo(max_batch, batch)) {
    // Calls overlapped the last commit, so more are likely on their way:
    // letting them join this one costs the oldest call at most commit_delay
    // and saves syncs and pages written (docs/BENCHMARKS.md). A lone caller
    // never waits.
    if (previous_batch > 1 && batch.size() < delayed_batch &&
        options_.commit_delay > absl::ZeroDuration()) {
      write_queue_.PopUpToBy(delayed_batch - batch.size(),
                             batch.front()->queued_at() + options_.commit_delay,
                             batch);
    }
    previous_batch = batch.size();
    Completed done = CommitBatch(std::move(batch));
    batch.clear();
    complete_queue_.Push(done);
    // After the callers of this batch are on their way, not before.
    parts_.backend->AfterBatch();
  }
}

StoreEngine::Completed StoreEngine::CommitBatch(
    std::vector<std::unique_ptr<WriteOp>> batch) {
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results(batch.size());
  const bool committed = parts_.backend->CommitBatch(batch, results);
  if (committed && options_.on_commit) {
    options_.on_commit(CommitStats{
        .commit_seconds = absl::ToDoubleSeconds(absl::Now() - start),
        .calls = batch.size(),
        .queued_seconds =
            absl::ToDoubleSeconds(start - batch.front()->queued_at())});
  }
  // Callers hear back (on the completer thread) only now that the batch is
  // durable or known lost.
  return Completed{.ops = std::move(batch), .results = std::move(results)};
}

void StoreEngine::CompleterLoop() {
  std::vector<Completed> ready;
  while (complete_queue_.PopUpTo(std::numeric_limits<size_t>::max(), ready)) {
    for (Completed& done : ready) {
      for (size_t i = 0; i < done.ops.size(); ++i) {
        done.ops[i]->Finish(std::move(done.results[i]));
      }
    }
    ready.clear();
  }
}

void StoreEngine::ReaderLoop(StoreReader& reader) {
  std::vector<ReadTask> tasks;
  while (read_queue_.PopUpTo(1, tasks)) {
    tasks.front()(reader);
    tasks.clear();
  }
}

// --- Store calls

void StoreEngine::Append(AppendRequest request, Callback<AppendResult> done) {
  if (absl::Status s = CheckAppend(request); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakeAppendOp(options_, std::move(request), std::move(done)));
}

void StoreEngine::AppendMany(std::vector<AppendRequest> requests,
                             Callback<std::vector<AppendResult>> done) {
  if (absl::Status s = CheckAppendMany(requests); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakeAppendManyOp(options_, std::move(requests), std::move(done)));
}

void StoreEngine::ChangeState(StateChange change, Callback<ChangeResult> done) {
  if (absl::Status s = CheckStateChange(change); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakeChangeStateOp(options_, std::move(change), std::move(done)));
}

void StoreEngine::Delete(DeleteRequest request, Callback<ChangeResult> done) {
  if (absl::Status s = CheckDelete(request); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakeDeleteOp(options_, std::move(request), std::move(done)));
}

void StoreEngine::List(ListQuery query,
                       Callback<std::vector<Notification>> done) {
  if (absl::Status s = CheckRows(query.limit); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitRead<std::vector<Notification>>(
      [this, query = std::move(query)](StoreReader& r) {
        return r.List(query, options_.NowMs());
      },
      std::move(done));
}

void StoreEngine::Replay(ReplayQuery query, Callback<ReplayPage> done) {
  if (query.channels.size() > kMaxReplayChannels) {
    return CallBackLater(
        std::move(done),
        absl::InvalidArgumentError(absl::StrCat(
            "replay takes at most ", kMaxReplayChannels, " channels")));
  }
  if (absl::Status s = CheckRows(query.limit); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitRead<ReplayPage>(
      [this, query = std::move(query)](StoreReader& r) mutable {
        std::vector<std::string>& channels = query.channels;
        std::sort(channels.begin(), channels.end());
        channels.erase(std::unique(channels.begin(), channels.end()),
                       channels.end());
        const int64_t now_ms = options_.NowMs();
        absl::StatusOr<ReplayPage> page = r.Replay(query, now_ms);
        if (page.ok() && query.limit == 0) page->more = false;
        if (!page.ok() || query.counts_channel.empty()) return page;
        if (!IsInbox(query.counts_channel)) {
          page->counts = Counts{};
          return page;
        }
        absl::StatusOr<Counts> counts =
            r.ReadCounts(query.counts_channel, now_ms);
        if (!counts.ok()) return absl::StatusOr<ReplayPage>(counts.status());
        page->counts = *counts;
        return page;
      },
      std::move(done));
}

void StoreEngine::GetCounts(std::string channel, Callback<Counts> done) {
  SubmitRead<Counts>(
      [this,
       channel = std::move(channel)](StoreReader& r) -> absl::StatusOr<Counts> {
        if (!IsInbox(channel)) return Counts{};
        return r.ReadCounts(channel, options_.NowMs());
      },
      std::move(done));
}

void StoreEngine::Stats(Callback<StoreStats> done) {
  SubmitRead<StoreStats>([](StoreReader& r) { return r.Stats(); },
                         std::move(done));
}

void StoreEngine::ReadIdRange(
    uint64_t after_id, uint64_t up_to_id, uint32_t limit,
    Callback<std::vector<std::shared_ptr<const Notification>>> done) {
  if (absl::Status s = CheckRows(limit); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitRead<StoreReader::Rows>(
      [after_id, up_to_id, limit](StoreReader& r) {
        return r.ReadIdRange(after_id, up_to_id, limit);
      },
      std::move(done));
}

void StoreEngine::LastCommittedId(Callback<uint64_t> done) {
  SubmitRead<uint64_t>([](StoreReader& r) { return r.LastCommittedId(); },
                       std::move(done));
}

void StoreEngine::Ping(Callback<bool> done) {
  SubmitRead<bool>([](StoreReader& r) { return r.Ping(); }, std::move(done));
}

// --- Web Push

void StoreEngine::PutPushSubscription(PushSubscription subscription,
                                      Callback<PushPutResult> done) {
  if (absl::Status s = CheckPushSubscription(subscription); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakePutPushSubscriptionOp(options_, std::move(subscription),
                                        std::move(done)));
}

void StoreEngine::RemovePushSubscription(PushRemoval removal,
                                         Callback<bool> done) {
  if (absl::Status s = CheckPushRemoval(removal); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(
      MakeRemovePushSubscriptionOp(std::move(removal), std::move(done)));
}

void StoreEngine::ListPushSubscriptions(
    std::string channel, Callback<std::vector<PushSubscription>> done) {
  SubmitRead<std::vector<PushSubscription>>(
      [channel = std::move(channel)](StoreReader& r) {
        return r.PushSubscriptionsOf(channel);
      },
      std::move(done));
}

void StoreEngine::FindPushSubscription(std::string secret_sha256,
                                       Callback<PushSubscription> done) {
  SubmitRead<PushSubscription>(
      [secret_sha256 = std::move(secret_sha256)](
          StoreReader& r) -> absl::StatusOr<PushSubscription> {
        absl::StatusOr<std::optional<PushSubscription>> found =
            r.PushSubscriptionBySecret(secret_sha256);
        if (!found.ok()) return found.status();
        if (!found->has_value()) {
          return absl::NotFoundError("no push subscription has this secret");
        }
        return **std::move(found);
      },
      std::move(done));
}

void StoreEngine::MarkPushed(std::vector<uint64_t> ids,
                             Callback<uint64_t> done) {
  if (absl::Status s = CheckMarkPushed(ids); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitWrite(MakeMarkPushedOp(options_, std::move(ids), std::move(done)));
}

void StoreEngine::PushCandidates(PushCandidatesQuery query,
                                 Callback<StoreReader::Rows> done) {
  if (absl::Status s = CheckPushCandidates(query); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitRead<StoreReader::Rows>(
      [this, query](StoreReader& r) {
        return r.PushCandidates(query, options_.NowMs());
      },
      std::move(done));
}

// --- Pruning

absl::StatusOr<uint64_t> StoreEngine::DeleteOnWriter(PruneStep step) {
  return WaitForWrite(
      [this](std::unique_ptr<WriteOp> op) { SubmitWrite(std::move(op)); },
      [&step](Callback<uint64_t> done) {
        return MakeCountOp(WriteOp::Kind::kPrune, std::move(step),
                           std::move(done));
      });
}

// --- Expiry

absl::StatusOr<uint64_t> StoreEngine::ExpireNow() {
  absl::MutexLock pass(&expire_pass_mu_);
  uint64_t deleted = 0;
  for (;;) {
    std::promise<absl::StatusOr<bool>> asked;
    std::future<absl::StatusOr<bool>> any = asked.get_future();
    SubmitRead<bool>(
        [this](StoreReader& r) { return r.AnyExpired(options_.NowMs()); },
        [&asked](absl::StatusOr<bool> result) {
          asked.set_value(std::move(result));
        });
    absl::StatusOr<bool> expired = any.get();
    if (!expired.ok()) return expired.status();
    if (!*expired) return deleted;
    absl::StatusOr<uint64_t> n = WaitForWrite(
        [this](std::unique_ptr<WriteOp> op) { SubmitWrite(std::move(op)); },
        [this](Callback<uint64_t> done) {
          return MakeExpireOp(options_, options_.prune_batch, std::move(done));
        });
    if (!n.ok()) return n.status();
    deleted += *n;
    if (*n == 0) return deleted;
  }
}

void StoreEngine::ExpirerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&expirer_mu_);
      expirer_mu_.AwaitWithTimeout(absl::Condition(&expirer_stopping_),
                                   options_.expiry_interval);
      if (expirer_stopping_) return;
    }
    absl::StatusOr<uint64_t> deleted = ExpireNow();
    if (!deleted.ok()) {
      Log(spdlog::level::warn, "store: expiry failed",
          {{"error", deleted.status().ToString()}});
    }
  }
}

}  // namespace notifyd::storage
