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

class ChildProcess {
 public:
  // Starts `argv[0]` with the arguments; stdout and stderr go to log_path.
  ChildProcess(std::vector<std::string> argv, std::string log_path);
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
};

// Waits for notifyd's --ready_file to appear and reads the ports from it.
std::optional<Ports> WaitForReadyFile(const std::string& path,
                                      std::chrono::milliseconds timeout);

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SUPPORT_PROCESS_H_
