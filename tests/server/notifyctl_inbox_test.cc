// notifyctl's inbox commands against a real server (in-process, ports 0):
// notify with --collapse_key and --expires_in, list --filter, seen, read
// (--unread), archive, unarchive, counts and delete, each as one run of the
// built binary, checked through --json and the server's own answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

using ::testing::HasSubstr;

class NotifyctlInboxTest : public ::testing::Test {
 protected:
  // Runs notifyctl with `args`; its exit code, and its output in *log.
  int Run(std::vector<std::string> args, std::string* log) {
    std::vector<std::string> argv = {NOTIFYCTL_BINARY,
                                     "--server=" + server_.app().grpc_target()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log_path = (server_.dir() / "notifyctl.log").string();
    std::filesystem::remove(log_path);
    testing::ChildProcess process(argv, log_path);
    std::optional<int> status = process.Wait(std::chrono::seconds(30));
    *log = process.Log();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  std::string Ok(std::vector<std::string> args) {
    std::string log;
    EXPECT_EQ(Run(args, &log), 0) << log;
    return log;
  }

  testing::TestServer server_;
};

TEST_F(NotifyctlInboxTest, EveryInboxCommandDoesWhatItSays) {
  Ok({"notify", "kim", "one", "--collapse_key=k"});
  std::string replaced = Ok({"--json", "notify", "kim", "two",
                             "--collapse_key=k", "--expires_in=1h"});
  EXPECT_THAT(replaced, HasSubstr("\"replacedIds\":[\"1\"]"));
  EXPECT_THAT(replaced, HasSubstr("\"expiresAt\""));
  // Ids: 1 "one", 2 the record of its replacement, 3 "two", 4 "three".
  Ok({"notify", "kim", "three"});
  EXPECT_THAT(Ok({"counts", "kim"}), HasSubstr("2 unread, 2 unseen"));

  EXPECT_THAT(Ok({"seen", "kim", "3"}), HasSubstr("marked 1 seen"));
  EXPECT_THAT(Ok({"list", "kim", "--filter=unseen"}), HasSubstr("#4"));
  EXPECT_THAT(Ok({"list", "kim", "--filter=unseen"}),
              ::testing::Not(HasSubstr("#3")));
  EXPECT_THAT(Ok({"read", "kim", "--up_to_id=4"}),
              HasSubstr("marked 2 read; 0 unread, 0 unseen"));
  EXPECT_THAT(Ok({"read", "kim", "4", "--unread"}),
              HasSubstr("marked 1 unread; 1 unread"));
  EXPECT_THAT(Ok({"archive", "kim", "4"}), HasSubstr("marked 1 archived"));
  EXPECT_THAT(Ok({"list", "kim", "--filter=archived"}), HasSubstr("archived"));
  EXPECT_THAT(Ok({"unarchive", "kim", "4"}), HasSubstr("marked 1 unarchived"));
  EXPECT_THAT(Ok({"delete", "kim", "--collapse_key=k"}),
              HasSubstr("deleted 1; 1 unread"));
  EXPECT_THAT(Ok({"delete", "kim", "4"}), HasSubstr("deleted 1; 0 unread"));

  std::string log;
  EXPECT_EQ(Run({"list", "kim", "--filter=bogus"}, &log), 2);
  EXPECT_THAT(log, HasSubstr("--filter is one of"));
  EXPECT_EQ(Run({"delete", "kim"}, &log), 2);
  EXPECT_EQ(Run({"notify", "kim", "x", "--event=state"}, &log), 1);
  EXPECT_THAT(log, HasSubstr("reserved"));
}

TEST_F(NotifyctlInboxTest, NotifyToSeveralUsersIsOneNotifyUsersCall) {
  std::string sent =
      Ok({"notify", "ann,bo,cy", "deploy done", "--idempotency_key=d1"});
  EXPECT_THAT(sent, HasSubstr("stored #1 for ann"));
  EXPECT_THAT(sent, HasSubstr("stored #3 for cy"));
  EXPECT_THAT(sent, HasSubstr("3 stored, 0 duplicate(s)"));
  // From a file, with the same key: ann and bo have it, dee is new.
  const std::string file = (server_.dir() / "users.txt").string();
  std::ofstream(file) << "# on call\nann\n\n  bo  \ndee\n";
  std::string again = Ok({"--json", "notify", "--users_file=" + file,
                          "deploy done", "--idempotency_key=d1"});
  EXPECT_THAT(again, HasSubstr("\"stored\":1"));
  EXPECT_THAT(again,
              HasSubstr("{\"userId\":\"bo\",\"id\":\"2\",\"duplicate\":true}"));
  EXPECT_THAT(Ok({"counts", "dee"}), HasSubstr("1 unread"));
  // Refusals come back as the server words them.
  std::string log;
  EXPECT_EQ(Run({"notify", "ann,ann", "x"}, &log), 1);
  EXPECT_THAT(log, HasSubstr("user_ids[1] repeats user_ids[0]"));
  EXPECT_EQ(Run({"notify", "--users_file=/nonexistent", "x"}, &log), 1);
  EXPECT_THAT(log, HasSubstr("cannot read --users_file"));
}

TEST_F(NotifyctlInboxTest, StdinStreamsALinePerNotification) {
  const std::string input = (server_.dir() / "lines.txt").string();
  {
    std::ofstream out(input);
    for (int i = 0; i < 1000; ++i) out << "{\"n\":" << i << "}\n";
  }
  // Through a shell, for the redirection.
  const std::string command =
      std::string(NOTIFYCTL_BINARY) +
      " --server=" + server_.app().grpc_target() +
      " publish --stdin news --idempotency_key=batch < " + input;
  auto run_shell = [&](std::string* log) {
    std::string log_path = (server_.dir() / "sh.log").string();
    std::filesystem::remove(log_path);
    testing::ChildProcess sh({"/bin/sh", "-c", command}, log_path);
    std::optional<int> status = sh.Wait(std::chrono::seconds(60));
    *log = sh.Log();
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  std::string log;
  ASSERT_EQ(run_shell(&log), 0) << log;
  EXPECT_THAT(log, HasSubstr("1000 stored, 0 duplicate(s), 0 failed, of 1000"));
  EXPECT_EQ(testing::StoredCount(server_.stub()), 1000u);
  // The same input again: every line's key is known, nothing is stored.
  ASSERT_EQ(run_shell(&log), 0) << log;
  EXPECT_THAT(log, HasSubstr("0 stored, 1000 duplicate(s)"));
  EXPECT_EQ(testing::StoredCount(server_.stub()), 1000u);
}

}  // namespace
}  // namespace notifyd
