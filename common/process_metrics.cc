#include "common/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace notifyd {
namespace {

// The fields of /proc/self/stat after "pid (comm) ", counting from state
// (field 3 of proc(5)) as index 0.
constexpr size_t kUtimeIndex = 14 - 3;
constexpr size_t kStimeIndex = 15 - 3;
constexpr size_t kStartTimeIndex = 22 - 3;
constexpr size_t kRssIndex = 24 - 3;
// /proc/self/stat is a few hundred bytes; /proc/stat grows with the CPUs,
// and its btime line follows them.
constexpr size_t kMaxProcFileBytes = 1 << 20;

absl::Status Unavailable(absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("cannot read ", what, ": ", std::strerror(errno)));
}

absl::StatusOr<std::string> ReadProcFile(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable(path);
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Unavailable(path);
      close(fd);
      return s;
    }
    if (n == 0 || text.size() >= kMaxProcFileBytes) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

// Seconds since the epoch at which the machine booted (/proc/stat btime).
absl::StatusOr<uint64_t> BootTime() {
  absl::StatusOr<std::string> stat = ReadProcFile("/proc/stat");
  if (!stat.ok()) return stat.status();
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    uint64_t btime = 0;
    if (absl::ConsumePrefix(&line, "btime ") &&
        absl::SimpleAtoi(line, &btime)) {
      return btime;
    }
  }
  return absl::UnavailableError("no btime in /proc/stat");
}

// Descriptors open in this process, not counting the one listing them.
absl::StatusOr<uint64_t> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return Unavailable("/proc/self/fd");
  const std::string own = std::to_string(dirfd(dir));
  uint64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.' || own == entry->d_name) continue;
    ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats() {
  absl::StatusOr<std::string> stat = ReadProcFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  // The command name may hold spaces and parentheses: fields start after
  // the last ')'.
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) {
    return absl::UnavailableError("malformed /proc/self/stat");
  }
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0, start_ticks = 0, rss_pages = 0;
  if (fields.size() <= kRssIndex ||
      !absl::SimpleAtoi(fields[kUtimeIndex], &utime) ||
      !absl::SimpleAtoi(fields[kStimeIndex], &stime) ||
      !absl::SimpleAtoi(fields[kStartTimeIndex], &start_ticks) ||
      !absl::SimpleAtoi(fields[kRssIndex], &rss_pages)) {
    return absl::UnavailableError("malformed /proc/self/stat");
  }
  static const absl::StatusOr<uint64_t> boot_time = BootTime();
  if (!boot_time.ok()) return boot_time.status();
  absl::StatusOr<uint64_t> open_fds = OpenFds();
  if (!open_fds.ok()) return open_fds.status();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return Unavailable("RLIMIT_NOFILE");

  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessStats stats;
  stats.cpu_seconds = static_cast<double>(utime + stime) / ticks_per_second;
  stats.resident_bytes =
      rss_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  stats.open_fds = *open_fds;
  stats.max_fds = limit.rlim_cur;
  stats.start_time_seconds =
      static_cast<double>(*boot_time) +
      static_cast<double>(start_ticks) / ticks_per_second;
  return stats;
}

void AddProcessMetrics(Metrics& metrics) {
  Sample& cpu = metrics.GetSampledCounter(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.");
  Sample& resident = metrics.GetSampledGauge("process_resident_memory_bytes",
                                             "Resident memory size in bytes.");
  Sample& open_fds = metrics.GetSampledGauge(
      "process_open_fds", "Number of open file descriptors.");
  Sample& max_fds = metrics.GetSampledGauge(
      "process_max_fds", "Maximum number of open file descriptors.");
  Sample& start_time = metrics.GetSampledGauge(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.");
  metrics.AddCollector([&cpu, &resident, &open_fds, &max_fds, &start_time] {
    absl::StatusOr<ProcessStats> stats = ReadProcessStats();
    if (!stats.ok()) return;
    cpu.Set(stats->cpu_seconds);
    resident.Set(static_cast<double>(stats->resident_bytes));
    open_fds.Set(static_cast<double>(stats->open_fds));
    max_fds.Set(static_cast<double>(stats->max_fds));
    start_time.Set(stats->start_time_seconds);
  });
}

}  // namespace notifyd
