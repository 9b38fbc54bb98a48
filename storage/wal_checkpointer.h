// Keeps the write-ahead log short without making a commit wait for a
// checkpoint.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses its
// threshold: that batch's callers, and every call queued behind it, wait
// while thousands of pages are copied into the database file and synced
// (tens of milliseconds at a few thousand appends per second). Instead, a
// thread of its own, on its own connection, runs PASSIVE checkpoints, which
// never block the writer, whenever `start_frames` frames are not yet copied.
//
// A passive checkpoint cannot rewind the WAL while commits keep arriving
// (SQLite restarts the log only when a transaction begins with every frame
// copied), so under sustained load the file would grow without bound. Once
// it holds `restart_frames`, the writer thread itself, between two batches,
// copies the few frames the background pass has not reached yet; its next
// transaction then starts the log from the top. That pause is short because
// the background thread has already copied almost everything.
//
// Threading: OnWriterIdle() is called only on the writer thread; the wal
// hook runs on the writer thread inside COMMIT. The destructor stops and
// joins the background thread; call it before closing the writer's
// connection, whose close performs the final checkpoint.
#ifndef NOTIFYD_STORAGE_WAL_CHECKPOINTER_H_
#define NOTIFYD_STORAGE_WAL_CHECKPOINTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log_limiter.h"

struct sqlite3;

namespace notifyd::storage {

class Connection;

struct WalCheckpointOptions {
  // WAL frames (pages) not yet copied that start a background checkpoint.
  // Small passes keep each burst of database writes, and the sync that ends
  // it, short: a commit's own sync queues behind them on the same disk. On
  // the 2-core benchmark machine, with a 250k-row store at 5,000 appends/s,
  // the ack p99 was about 10 ms with 1,000 frames, 5.7 ms with 250 and
  // 3-5 ms with 100 (docs/BENCHMARKS.md). Under heavier load frames pile up
  // during a pass, so passes grow by themselves.
  int64_t start_frames = 100;
  // WAL frames at which the writer finishes the checkpoint itself so the
  // log can restart (about 8 MiB of 4 KiB pages). At least start_frames.
  int64_t restart_frames = 2000;
  // Called after each checkpoint that ran, with where it ran (true: on the
  // writer thread, where it delays the next batch) and how long it took.
  // Runs on the checkpointing thread; must be cheap.
  std::function<void(bool on_writer, double seconds)> on_checkpoint;
};

class WalCheckpointer {
 public:
  // Takes over checkpointing for `writer` (its automatic checkpoint is
  // replaced by a hook) and starts a thread that checkpoints through `own`,
  // a second read-write connection to the same database. `writer` must
  // outlive this object.
  WalCheckpointer(Connection& writer, std::unique_ptr<Connection> own,
                  WalCheckpointOptions options);
  ~WalCheckpointer();

  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Writer thread, outside any transaction: when the WAL has reached
  // restart_frames, copies what is left so the next transaction rewinds it.
  void OnWriterIdle();

  // Checkpoints that copied frames, background and writer; for tests and
  // metrics.
  uint64_t background_checkpoints() const { return background_runs_.load(); }
  uint64_t writer_checkpoints() const { return writer_runs_.load(); }

 private:
  static int OnCommit(void* self, sqlite3* db, const char* schema, int frames);
  void Loop();

  Connection& writer_;
  const std::unique_ptr<Connection> own_;
  const WalCheckpointOptions options_;

  // Frames in the WAL after the writer's latest commit.
  std::atomic<int64_t> wal_frames_{0};
  // Frames of the current log already in the database file.
  std::atomic<int64_t> copied_frames_{0};
  std::atomic<uint64_t> background_runs_{0};
  std::atomic<uint64_t> writer_runs_{0};
  LogLimiter failure_log_{/*burst=*/1, absl::Seconds(10)};

  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_WAL_CHECKPOINTER_H_
