// The process_* metrics read this process: values that follow what the
// test does (descriptors it opens), its limit, and its start.
#include "common/process_metrics.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>
#include <vector>

#include "absl/time/clock.h"

namespace notifyd {
namespace {

using ::testing::HasSubstr;

TEST(ProcessMetricsTest, OpenDescriptorsFollowWhatTheProcessOpens) {
  absl::StatusOr<ProcessStats> before = ReadProcessStats();
  ASSERT_TRUE(before.ok()) << before.status();
  std::vector<int> fds;
  for (int i = 0; i < 25; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  absl::StatusOr<ProcessStats> during = ReadProcessStats();
  for (int fd : fds) close(fd);
  absl::StatusOr<ProcessStats> after = ReadProcessStats();
  ASSERT_TRUE(during.ok() && after.ok());
  EXPECT_EQ(during->open_fds, before->open_fds + 25);
  EXPECT_EQ(after->open_fds, before->open_fds);
}

TEST(ProcessMetricsTest, LimitMemoryCpuAndStartAreThisProcesss) {
  // Some CPU time to count: 50 ms of this process's own CPU clock (a wall
  // clock would count time a loaded machine spends running others).
  const std::clock_t until = std::clock() + CLOCKS_PER_SEC / 20;
  while (std::clock() < until) {
  }
  absl::StatusOr<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(stats->max_fds, limit.rlim_cur);
  EXPECT_GT(stats->resident_bytes, 1u << 20);
  EXPECT_GT(stats->cpu_seconds, 0);
  // Started before now, and not long ago (boot time has 1 s resolution).
  const double now =
      static_cast<double>(absl::ToUnixMillis(absl::Now())) / 1000;
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 600);
}

TEST(ProcessMetricsTest, RenderedUnderPrometheusStandardNamesAtEveryScrape) {
  Metrics metrics;
  AddProcessMetrics(metrics);
  const std::string text = metrics.RenderText();
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  for (const char* gauge : {"process_resident_memory_bytes", "process_open_fds",
                            "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + gauge + " gauge\n"));
  }
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_THAT(text, HasSubstr("process_max_fds " +
                              std::to_string(limit.rlim_cur) + "\n"));
}

}  // namespace
}  // namespace notifyd
