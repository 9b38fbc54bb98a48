#include "bench/bench_util.h"

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace notifyd::bench {

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string StampedPayload(int64_t t_ns, uint64_t seq, size_t min_bytes) {
  std::string s = absl::StrCat("{\"t\":", t_ns, ",\"seq\":", seq);
  // `,"pad":""}` is 10 bytes.
  if (s.size() + 11 < min_bytes) {
    absl::StrAppend(&s, ",\"pad\":\"",
                    std::string(min_bytes - s.size() - 10, 'x'), "\"");
  }
  s += '}';
  return s;
}

bool ParseStamp(std::string_view data, int64_t* t_ns) {
  size_t at = data.find("\"t\":");
  if (at == std::string_view::npos) return false;
  const char* begin = data.data() + at + 4;
  const char* end = data.data() + data.size();
  auto [ptr, ec] = std::from_chars(begin, end, *t_ns);
  return ec == std::errc() && ptr != begin;
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const std::string& target, int n, absl::Duration connect_timeout,
    bool bdp_probe) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("notifyd.bench.channel_index", i);
    if (!bdp_probe) args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + connect_timeout))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", target, " within ",
                       absl::FormatDuration(connect_timeout)));
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

uint64_t RunOpenLoop(
    double rate, absl::Duration duration,
    const std::function<void(uint64_t, SteadyClock::time_point)>& issue) {
  const auto start = SteadyClock::now();
  const auto end = start + absl::ToChronoNanoseconds(duration);
  const double period_ns = 1e9 / rate;
  uint64_t seq = 0;
  for (;; ++seq) {
    auto due =
        start + std::chrono::nanoseconds(static_cast<int64_t>(period_ns * seq));
    if (due >= end) break;
    // sleep_until overshoots by tens of microseconds; at 5,000/s (200 us
    // apart) that jitter is part of what a real client sees, and late sends
    // keep their `due` so it is measured, not hidden.
    if (SteadyClock::now() < due) std::this_thread::sleep_until(due);
    issue(seq, due);
  }
  return seq;
}

int64_t ToRealtimeNs(SteadyClock::time_point t) {
  static const int64_t offset =
      RealtimeNs() - Ns(SteadyClock::now().time_since_epoch());
  return Ns(t.time_since_epoch()) + offset;
}

namespace {

int64_t ReadOneRss(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoll(line.substr(6)) * 1024;  // "VmRSS:  1234 kB"
    }
  }
  return -1;
}

void ChildrenOf(pid_t pid, std::vector<pid_t>* out) {
  // /proc/<pid>/task/<tid>/children lists the children each thread started.
  std::ifstream tasks(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
  pid_t child;
  while (tasks >> child) {
    out->push_back(child);
    ChildrenOf(child, out);
  }
}

}  // namespace

int64_t ReadRssBytes(pid_t pid, bool with_children) {
  int64_t total = ReadOneRss(pid);
  if (total < 0 || !with_children) return total;
  std::vector<pid_t> children;
  ChildrenOf(pid, &children);
  for (pid_t c : children) {
    int64_t r = ReadOneRss(c);
    if (r > 0) total += r;
  }
  return total;
}

std::string CommandLine(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) s += ' ';
    s += argv[i];
  }
  return s;
}

std::string MachineSummary() {
  utsname u;
  uname(&u);
  std::string model = "unknown cpu";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return absl::StrCat(u.sysname, " ", u.release, " ", u.machine, ", ",
                      std::thread::hardware_concurrency(), " cpus, ", model);
}

std::string StatusText(const grpc::Status& status) {
  if (status.ok()) return "";
  return absl::StrCat(status.error_code(), " ", status.error_message());
}

void InFlight::Add() {
  absl::MutexLock lock(&mu_);
  ++n_;
}

void InFlight::Done() {
  absl::MutexLock lock(&mu_);
  --n_;
}

int64_t InFlight::n() {
  absl::MutexLock lock(&mu_);
  return n_;
}

bool InFlight::WaitZero(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto zero = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return n_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&zero), timeout);
}

}  // namespace notifyd::bench
