#include "storage/wal_checkpointer.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/log.h"
#include "common/thread_name.h"
#include "storage/sqlite_connection.h"

namespace notifyd::storage {
namespace {

// Runs one checkpoint of `mode`; returns the frames the WAL holds, how many
// of them are now in the database file (both -1 on failure), and how long
// it took.
struct CheckpointResult {
  int rc;
  int log_frames;
  int copied_frames;
  double seconds;
};

CheckpointResult Checkpoint(sqlite3* db, int mode) {
  CheckpointResult r{SQLITE_OK, -1, -1, 0};
  const auto start = std::chrono::steady_clock::now();
  r.rc = sqlite3_wal_checkpoint_v2(db, "main", mode, &r.log_frames,
                                   &r.copied_frames);
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return r;
}

}  // namespace

WalCheckpointer::WalCheckpointer(Connection& writer,
                                 std::unique_ptr<Connection> own,
                                 WalCheckpointOptions options)
    : writer_(writer), own_(std::move(own)), options_(options) {
  // Replaces the automatic checkpoint, which is itself a wal hook.
  sqlite3_wal_hook(writer_.db(), &WalCheckpointer::OnCommit, this);
  thread_ = std::thread([this] {
    NameThisThread("store-ckpt");
    Loop();
  });
}

WalCheckpointer::~WalCheckpointer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  sqlite3_wal_hook(writer_.db(), nullptr, nullptr);
}

int WalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int frames) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  checkpointer->wal_frames_.store(frames, std::memory_order_relaxed);
  int64_t copied = checkpointer->copied_frames_.load(std::memory_order_relaxed);
  if (frames < copied) {
    // The log has restarted since the last pass.
    copied = 0;
    checkpointer->copied_frames_.store(0, std::memory_order_relaxed);
  }
  // Past restart_frames the writer finishes the job; a background pass
  // would only hold the checkpoint lock it needs.
  if (frames - copied >= checkpointer->options_.start_frames &&
      frames < checkpointer->options_.restart_frames) {
    absl::MutexLock lock(&checkpointer->mu_);
    checkpointer->wanted_ = true;
  }
  return SQLITE_OK;
}

void WalCheckpointer::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WalCheckpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->wanted_ || c->stopping_;
          },
          this));
      if (stopping_) return;
      wanted_ = false;
    }
    CheckpointResult r = Checkpoint(own_->db(), SQLITE_CHECKPOINT_PASSIVE);
    // BUSY: the writer is finishing a checkpoint itself; nothing is lost.
    uint64_t dropped = 0;
    if (r.rc != SQLITE_OK && r.rc != SQLITE_BUSY) {
      if (failure_log_.Allow(&dropped)) {
        Log(spdlog::level::warn, "store: background checkpoint failed",
            {{"error", sqlite3_errstr(r.rc)},
             LogField::NonZero("dropped", dropped)});
      }
    } else if (r.rc == SQLITE_OK) {
      background_runs_.fetch_add(1, std::memory_order_relaxed);
      copied_frames_.store(r.copied_frames, std::memory_order_relaxed);
      if (options_.on_checkpoint) options_.on_checkpoint(false, r.seconds);
    }
  }
}

void WalCheckpointer::OnWriterIdle() {
  if (wal_frames_.load(std::memory_order_relaxed) < options_.restart_frames) {
    return;
  }
  CheckpointResult r = Checkpoint(writer_.db(), SQLITE_CHECKPOINT_PASSIVE);
  if (r.rc == SQLITE_BUSY) return;  // The background pass holds it; retry.
  if (r.rc != SQLITE_OK) {
    // A full or failing disk fails this after every batch: say so, not
    // thousands of times a second.
    if (uint64_t dropped = 0; failure_log_.Allow(&dropped)) {
      Log(spdlog::level::warn, "store: checkpoint failed",
          {{"error", sqlite3_errstr(r.rc)},
           LogField::NonZero("dropped", dropped)});
    }
    return;
  }
  writer_runs_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_checkpoint) options_.on_checkpoint(true, r.seconds);
  // Everything copied: the next transaction rewinds the log, and until it
  // does there is nothing more to do. Otherwise a reader still uses old
  // frames; try again after the next batch.
  if (r.copied_frames == r.log_frames) {
    wal_frames_.store(0, std::memory_order_relaxed);
    copied_frames_.store(0, std::memory_order_relaxed);
  }
}

}  // namespace notifyd::storage
