#include "storage/store_engine.h"

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"

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

// --- Write calls

class AppendOp final : public WriteOp {
 public:
  AppendOp(const StoreOptions& options, AppendRequest request,
           Callback<AppendResult> done)
      : WriteOp(Kind::kAppend),
        options_(options),
        request_(std::move(request)),
        done_(std::move(done)) {}

  absl::Status Run(WriteTransaction& txn) override {
    created_at_ms_ = options_.NowMs();
    absl::StatusOr<Inserted> inserted = txn.Insert(request_, created_at_ms_);
    if (!inserted.ok()) return inserted.status();
    inserted_ = *std::move(inserted);
    return absl::OkStatus();
  }

 private:
  void Finish(absl::Status status) override {
    if (!status.ok()) {
      done_(std::move(status));
    } else if (inserted_.row != nullptr) {
      done_(AppendResult{std::move(inserted_.row), inserted_.duplicate});
    } else {
      // Built here, on the completer, from the request's own strings.
      auto n = std::make_shared<Notification>();
      n->id = inserted_.id;
      n->channel = std::move(request_.channel);
      n->event = std::move(request_.event);
      n->data = std::move(request_.data);
      n->created_at_ms = created_at_ms_;
      done_(AppendResult{std::move(n), /*duplicate=*/false});
    }
  }

  const StoreOptions& options_;
  AppendRequest request_;
  Callback<AppendResult> done_;
  int64_t created_at_ms_ = 0;
  Inserted inserted_;
};

// A write that answers with a count of rows (MarkRead, a delete batch):
// `fn(txn)` runs it. A lambda, so nothing more is allocated.
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
}

void StoreEngine::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;

  // First, while the writer still takes a PruneNow's deletes.
  pruner_.Stop();
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
  SubmitWrite(std::make_unique<AppendOp>(options_, std::move(request),
                                         std::move(done)));
}

void StoreEngine::MarkRead(MarkReadRequest request, Callback<uint64_t> done) {
  SubmitWrite(MakeCountOp(
      WriteOp::Kind::kMarkRead,
      [request = std::move(request)](WriteTransaction& txn) {
        return txn.MarkRead(request);
      },
      std::move(done)));
}

void StoreEngine::List(ListQuery query,
                       Callback<std::vector<Notification>> done) {
  if (absl::Status s = CheckRows(query.limit); !s.ok()) {
    return CallBackLater(std::move(done), std::move(s));
  }
  SubmitRead<std::vector<Notification>>(
      [query = std::move(query)](StoreReader& r) { return r.List(query); },
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
      [query = std::move(query)](StoreReader& r) mutable {
        std::vector<std::string>& channels = query.channels;
        std::sort(channels.begin(), channels.end());
        channels.erase(std::unique(channels.begin(), channels.end()),
                       channels.end());
        return r.Replay(query);
      },
      std::move(done));
}

void StoreEngine::UnreadCount(std::string channel, Callback<uint64_t> done) {
  SubmitRead<uint64_t>([channel = std::move(channel)](
                           StoreReader& r) { return r.UnreadCount(channel); },
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

// --- Pruning

absl::StatusOr<uint64_t> StoreEngine::DeleteOnWriter(PruneStep step) {
  std::promise<absl::StatusOr<uint64_t>> promise;
  std::future<absl::StatusOr<uint64_t>> future = promise.get_future();
  SubmitWrite(MakeCountOp(WriteOp::Kind::kPrune, std::move(step),
                          [&promise](absl::StatusOr<uint64_t> result) {
                            promise.set_value(std::move(result));
                          }));
  return future.get();
}

}  // namespace notifyd::storage
