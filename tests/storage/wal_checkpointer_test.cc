// The checkpointer keeps the WAL bounded while a writer commits without
// pause, and nothing committed is lost when the log rewinds.
#include "storage/wal_checkpointer.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/sqlite_connection.h"
#include "tests/storage/temp_dir.h"

namespace notifyd::storage {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto writer = Connection::Open(path_, Connection::Mode::kReadWrite);
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
    ASSERT_TRUE(writer_->Exec("PRAGMA journal_mode=WAL").ok());
    ASSERT_TRUE(
        writer_->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").ok());
  }

  std::unique_ptr<Connection> Own() {
    auto own = Connection::Open(path_, Connection::Mode::kReadWrite);
    EXPECT_TRUE(own.ok()) << own.status();
    EXPECT_TRUE((*own)->Exec("PRAGMA journal_mode").ok());
    return *std::move(own);
  }

  // One transaction of `rows` rows that each fill most of a page.
  void Commit(int rows) {
    ASSERT_TRUE(writer_->Exec("BEGIN IMMEDIATE").ok());
    for (int i = 0; i < rows; ++i) {
      ASSERT_TRUE(
          writer_->Exec("INSERT INTO t (v) VALUES (zeroblob(3000))").ok());
    }
    ASSERT_TRUE(writer_->Exec("COMMIT").ok());
  }

  testing::TempDir dir_;
  std::string path_ = dir_.File("wal.db");
  std::unique_ptr<Connection> writer_;
};

TEST_F(WalCheckpointerTest, WalStaysBoundedUnderSustainedCommits) {
  WalCheckpointOptions options;
  options.start_frames = 50;
  options.restart_frames = 200;
  std::atomic<int> on_writer{0}, in_background{0};
  options.on_checkpoint = [&](bool writer, double seconds) {
    EXPECT_GE(seconds, 0);
    ++(writer ? on_writer : in_background);
  };
  WalCheckpointer checkpointer(*writer_, Own(), options);
  const int64_t page = 4096 + 24;  // A frame: page plus its header.
  int64_t largest_wal = 0;
  for (int batch = 0; batch < 300; ++batch) {
    Commit(5);
    checkpointer.OnWriterIdle();
    largest_wal = std::max(largest_wal, FileSize(path_ + "-wal"));
  }

  // 1,500 rows (about 1,500 frames) went through a log that never grew far
  // past restart_frames: beyond it only by the batches committed while a
  // background pass held the checkpoint lock.
  EXPECT_LT(largest_wal, 2 * options.restart_frames * page);
  EXPECT_GT(checkpointer.writer_checkpoints(), 0u);
  EXPECT_EQ(writer_->QueryInt("SELECT count(*) FROM t").value(), 1500);
  // Every checkpoint that ran was reported, each where it ran.
  EXPECT_EQ(on_writer.load(),
            static_cast<int>(checkpointer.writer_checkpoints()));
  EXPECT_LE(in_background.load(),
            static_cast<int>(checkpointer.background_checkpoints()));
}

TEST_F(WalCheckpointerTest, BackgroundPassesCopyBeforeTheWriterHasTo) {
  WalCheckpointOptions options;
  options.start_frames = 20;
  options.restart_frames = 100000;
  WalCheckpointer checkpointer(*writer_, Own(), options);
  for (int batch = 0; batch < 100 && checkpointer.background_checkpoints() == 0;
       ++batch) {
    Commit(5);
    checkpointer.OnWriterIdle();
    absl::SleepFor(absl::Milliseconds(5));
  }

  EXPECT_GT(checkpointer.background_checkpoints(), 0u);
  // Far below restart_frames, the writer never paused for a checkpoint.
  EXPECT_EQ(checkpointer.writer_checkpoints(), 0u);
}

TEST_F(WalCheckpointerTest, RewoundLogKeepsEveryCommittedRowAfterReopening) {
  {
    WalCheckpointOptions options;
    options.start_frames = 10;
    options.restart_frames = 40;
    WalCheckpointer checkpointer(*writer_, Own(), options);
    for (int batch = 0; batch < 50; ++batch) {
      Commit(3);
      checkpointer.OnWriterIdle();
    }
  }
  writer_.reset();

  auto reopened = Connection::Open(path_, Connection::Mode::kReadOnly);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->QueryInt("SELECT count(*) FROM t").value(), 150);
  absl::StatusOr<Statement> check =
      (*reopened)->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  ASSERT_TRUE(check->Step().value_or(false));
  EXPECT_EQ(check->ColumnText(0), "ok");
}

}  // namespace
}  // namespace notifyd::storage
