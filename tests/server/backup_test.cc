// Backing up a running notifyd's SQLite store as README ("Running in
// production") prints it: `sqlite3 notify.db ".backup FILE"`, taken while
// publishers keep being acknowledged. The copy is a consistent store that
// notifyd opens, holding every notification acknowledged before the backup
// started.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

// Debian's sqlite3 package (scripts/setup.sh installs it for the tests).
constexpr char kSqlite3[] = "/usr/bin/sqlite3";

// Runs the sqlite3 CLI on `db` with `command`; its exit code (-1 when it
// did not finish in time) and its output in *out.
int Sqlite3(const std::filesystem::path& dir, const std::string& db,
            const std::string& command, std::string* out) {
  std::string log = (dir / "sqlite3.log").string();
  std::filesystem::remove(log);
  testing::ChildProcess process({kSqlite3, db, command}, log);
  std::optional<int> status = process.Wait(seconds(120));
  *out = process.Log();
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(BackupTest, SqliteBackupUnderLoadHoldsEveryNotificationAckedBeforeIt) {
  ASSERT_TRUE(std::filesystem::exists(kSqlite3))
      << kSqlite3 << " is missing: make test-setup installs Debian's sqlite3";
  testing::TempDir dir;
  NotifydBinary notifyd(dir.path());
  auto stub = notifyd.Connect();
  ASSERT_NE(stub, nullptr);

  // Publishers, each to its own user, until told to stop; every
  // acknowledged id is recorded.
  constexpr int kPublishers = 4;
  const std::string payload(512, 'x');
  absl::Mutex mu;
  std::vector<std::set<uint64_t>> acked(kPublishers);
  size_t total = 0;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      while (!stop) {
        pb::NotifyUserResponse response;
        if (!testing::NotifyUser(*stub, absl::StrCat("backup-", p), payload,
                                 &response)
                 .ok()) {
          continue;
        }
        absl::MutexLock lock(&mu);
        acked[p].insert(response.notification().id());
        ++total;
      }
    });
  }
  std::vector<std::set<uint64_t>> before_backup;
  {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return total >= 2000;
    };
    mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
    before_backup = acked;
  }

  // The publishers keep going while sqlite3 copies the store.
  const std::string db = (dir.path() / "notify.db").string();
  testing::TempDir restored;
  const std::string backup = (restored.path() / "notify.db").string();
  std::string out;
  int code = Sqlite3(dir.path(), db, ".backup '" + backup + "'", &out);
  stop = true;
  for (std::thread& t : publishers) t.join();
  ASSERT_EQ(code, 0) << out;
  size_t checked = 0;
  for (const auto& ids : before_backup) checked += ids.size();
  ASSERT_GE(checked, 2000u) << notifyd.process().Log();

  EXPECT_EQ(Sqlite3(dir.path(), backup, "PRAGMA integrity_check", &out), 0);
  EXPECT_EQ(out, "ok\n");
  // notifyd opens the copy as its store and lists every id acknowledged
  // before the backup started.
  NotifydBinary from_backup(restored.path());
  auto restored_stub = from_backup.Connect();
  ASSERT_NE(restored_stub, nullptr);
  for (int p = 0; p < kPublishers; ++p) {
    std::set<uint64_t> stored =
        AllIds(*restored_stub, absl::StrCat("backup-", p));
    for (uint64_t id : before_backup[p]) {
      EXPECT_TRUE(stored.count(id)) << "acknowledged id " << id << " missing";
    }
  }
  // The original kept serving throughout and stops cleanly.
  notifyd.process().Signal(SIGTERM);
  std::optional<int> status = notifyd.process().Wait(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_THAT(notifyd.process().Log(), HasSubstr("store closed"));
}

}  // namespace
}  // namespace notifyd
