#include "tests/support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>

namespace notifyd::testing {

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path,
                           ChildOptions options)
    : log_path_(std::move(log_path)) {
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (const std::optional<RunAs>& user = options.run_as) {
      if (chdir("/") != 0 || setgroups(0, nullptr) != 0 ||
          setgid(user->gid) != 0 || setuid(user->uid) != 0) {
        _exit(126);
      }
    }
    // After setuid, which clears it; and the parent may already be gone.
    if (options.parent_death_signal != 0 &&
        (prctl(PR_SET_PDEATHSIG, options.parent_death_signal) != 0 ||
         getppid() != parent)) {
      _exit(125);
    }
    if (options.fd_limit > 0) {
      struct rlimit rl = {options.fd_limit, options.fd_limit};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(124);
    }
    for (std::string& entry : options.env) putenv(entry.data());
    execv(args[0], args.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<Ports> WaitForReadyFile(const std::string& path,
                                      std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(text.str(), ec);
      if (!ec && v.is_object()) {
        return Ports{
            .grpc = static_cast<int>(v.at("grpc_port").to_number<int64_t>()),
            .http = static_cast<int>(v.at("http_port").to_number<int64_t>()),
            .admin = static_cast<int>(v.at("admin_port").to_number<int64_t>())};
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

}  // namespace notifyd::testing
