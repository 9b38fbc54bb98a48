// Runs a real binary (notifyd, or a service a test needs) as a child
// process for black-box tests.
// Not thread-safe; one owner per process.
#ifndef NOTIFYD_TESTS_SUPPORT_PROCESS_H_
#define NOTIFYD_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace notifyd::testing {

// Who a child runs as, when not as the test itself (PostgreSQL refuses to
// run as root).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ChildOptions {
  // Run as this user and group (which needs root). The child then starts
  // in "/", since the test's directory may be closed to that user; the log
  // file is still opened by the test's user.
  std::optional<RunAs> run_as;
  // Sent to the child when the thread that started it ends, e.g. when the
  // test crashes before the destructor runs, so a server does not outlive
  // its test. 0: none.
  int parent_death_signal = 0;
  // RLIMIT_NOFILE (soft and hard) of the child, e.g. to flood a server
  // into its descriptor limit quickly. 0: inherited.
  uint64_t fd_limit = 0;
  // "NAME=value" entries set in the child's environment (over the
  // inherited one), e.g. NOTIFY_SOCKET for a systemd test.
  std::vector<std::string> env;
};

class ChildProcess {
 public:
  // Starts `argv[0]` with the arguments; stdout and stderr go to log_path.
  ChildProcess(std::vector<std::string> argv, std::string log_path,
               ChildOptions options = {});
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // Exit status as from waitpid, or nullopt when it did not exit in time.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

struct Ports {
  int grpc = 0;
  int http = 0;
  int admin = 0;  // /metrics, /readyz
};

// Waits for notifyd's --ready_file to appear and reads the ports from it.
std::optional<Ports> WaitForReadyFile(const std::string& path,
                                      std::chrono::milliseconds timeout);

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SUPPORT_PROCESS_H_
