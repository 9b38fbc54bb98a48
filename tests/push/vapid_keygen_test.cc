// `notifyctl vapid-keygen`: the key file it writes (mode 0600, never over
// an existing one) is what --vapid_key_file reads, and the public key it
// prints is that key's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "push/vapid.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd::push {
namespace {

using ::notifyd::testing::ChildProcess;
using ::notifyd::testing::TempDir;
using ::testing::HasSubstr;

struct NotifyctlRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

NotifyctlRun Notifyctl(const TempDir& dir, std::vector<std::string> args) {
  static int runs = 0;
  args.insert(args.begin(), NOTIFYCTL_BINARY);
  ChildProcess child(
      args,
      (dir.path() / ("notifyctl" + std::to_string(++runs) + ".log")).string());
  std::optional<int> status = child.Wait(std::chrono::seconds(10));
  NotifyctlRun run;
  if (status.has_value() && WIFEXITED(*status)) {
    run.exit_code = WEXITSTATUS(*status);
  }
  run.output = child.Log();
  return run;
}

TEST(VapidKeygenTest, WritesAPrivateKeyFileAndPrintsItsPublicKey) {
  TempDir dir;
  const std::string path = (dir.path() / "vapid.pem").string();
  NotifyctlRun run = Notifyctl(dir, {"vapid-keygen", path});
  ASSERT_EQ(run.exit_code, 0) << run.output;

  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  absl::StatusOr<VapidKey> key = VapidKey::FromFile(path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(run.output),
            key->public_key_base64url());
}

TEST(VapidKeygenTest, NeverOverwritesAnExistingFile) {
  TempDir dir;
  const std::string path = (dir.path() / "vapid.pem").string();
  ASSERT_EQ(Notifyctl(dir, {"vapid-keygen", path}).exit_code, 0);
  const std::string before = notifyd::testing::TestCa::Read(path);
  NotifyctlRun again = Notifyctl(dir, {"vapid-keygen", path});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("never overwritten"));
  EXPECT_EQ(notifyd::testing::TestCa::Read(path), before);
}

TEST(VapidKeygenTest, WithoutAFileThePemGoesToStdout) {
  TempDir dir;
  NotifyctlRun run = Notifyctl(dir, {"vapid-keygen"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  absl::StatusOr<VapidKey> key = VapidKey::FromPem(run.output);
  ASSERT_TRUE(key.ok()) << key.status() << run.output;
  EXPECT_THAT(run.output, HasSubstr("public key (applicationServerKey): " +
                                    key->public_key_base64url()));
}

TEST(VapidKeygenTest, TakesAtMostOneFile) {
  TempDir dir;
  EXPECT_EQ(Notifyctl(dir, {"vapid-keygen", "a", "b"}).exit_code, 2);
}

}  // namespace
}  // namespace notifyd::push
