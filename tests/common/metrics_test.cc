#include "common/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, SameNameAndLabelsIsSameMetric) {
  Metrics m;
  Counter& a = m.GetCounter("x_total", "help", {{"k", "v"}});
  Counter& b = m.GetCounter("x_total", "other help", {{"k", "v"}});
  Counter& c = m.GetCounter("x_total", "help", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(MetricsTest, RendersCountersAndGaugesWithLabels) {
  Metrics m;
  m.GetCounter("notifyd_grpc_calls_total", "gRPC calls",
               {{"method", "NotifyUser"}, {"code", "OK"}})
      .Inc(3);
  Gauge& g = m.GetGauge("notifyd_http_connections", "Open connections");
  g.Add(5);
  g.Add(-2);
  EXPECT_EQ(m.RenderText(),
            "# HELP notifyd_grpc_calls_total gRPC calls\n"
            "# TYPE notifyd_grpc_calls_total counter\n"
            "notifyd_grpc_calls_total{method=\"NotifyUser\",code=\"OK\"} 3\n"
            "# HELP notifyd_http_connections Open connections\n"
            "# TYPE notifyd_http_connections gauge\n"
            "notifyd_http_connections 3\n");
  g.Set(-1);
  EXPECT_EQ(g.Value(), -1);
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  Metrics m;
  m.GetCounter("c", "a\\b\nc", {{"path", "x\"y\\z\n"}}).Inc();
  std::string text = m.RenderText();
  EXPECT_THAT(text, HasSubstr("# HELP c a\\\\b\\nc\n"));
  EXPECT_THAT(text, HasSubstr("c{path=\"x\\\"y\\\\z\\n\"} 1\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics m;
  Histogram& h = m.GetHistogram("lat_seconds", "Latency");
  h.Observe(0.0001);  // first bucket
  h.Observe(0.003);   // le 0.005
  h.Observe(0.003);
  h.Observe(5);  // +Inf only
  std::string text = m.RenderText();
  EXPECT_THAT(text, HasSubstr("# TYPE lat_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.0025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.005\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"2.5\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_count 4\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_sum 5.0061\n"));
}

TEST(MetricsTest, HistogramWithLabelsPutsLeLast) {
  Metrics m;
  m.GetHistogram("h", "H", {{"method", "Publish"}}).Observe(1);
  EXPECT_THAT(m.RenderText(),
              HasSubstr("h_bucket{method=\"Publish\",le=\"1\"} 1\n"));
}

TEST(MetricsTest, TypeMismatchAndBadNameDoNotCrash) {
  Metrics m;
  m.GetCounter("dup", "d").Inc();
  m.GetGauge("dup", "d").Set(7);  // orphan, not rendered
  m.GetCounter("0bad", "b").Inc();
  std::string text = m.RenderText();
  EXPECT_THAT(text, HasSubstr("dup 1\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("0bad")));
  EXPECT_TRUE(Metrics::IsValidName("a_b:c9"));
  EXPECT_FALSE(Metrics::IsValidName("9a"));
  EXPECT_FALSE(Metrics::IsValidName("a-b"));
}

// Values kept elsewhere (a shared bus's counts) are copied in by a
// collector at each scrape, so every rendering shows the current value.
TEST(MetricsTest, CollectorsRunBeforeEachRendering) {
  Metrics m;
  Gauge& held = m.GetGauge("held", "kept by someone else");
  int source = 3;
  m.AddCollector([&] { held.Set(source); });
  EXPECT_THAT(m.RenderText(), HasSubstr("held 3\n"));
  source = 5;
  EXPECT_THAT(m.RenderText(), HasSubstr("held 5\n"));
}

// Samples (CPU seconds, a start time) are rendered exactly, as the counter
// or gauge they were registered as; asking for one under another type's
// name gets an orphan.
TEST(MetricsTest, SamplesRenderExactlyAsCounterOrGauge) {
  Metrics m;
  m.GetSampledGauge("start_seconds", "s").Set(1714566896.789);
  m.GetSampledCounter("cpu_seconds_total", "c").Set(0.25);
  m.GetSampledCounter("start_seconds", "s").Set(9);  // orphan
  std::string text = m.RenderText();
  EXPECT_THAT(text, HasSubstr("# TYPE start_seconds gauge\n"
                              "start_seconds 1714566896.789\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE cpu_seconds_total counter\n"
                              "cpu_seconds_total 0.25\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("start_seconds 9")));
}

TEST(MetricsTest, ConcurrentUpdates) {
  Metrics m;
  Counter& c = m.GetCounter("c", "c");
  Histogram& h = m.GetHistogram("h", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000u);
  EXPECT_EQ(h.Count(), 40000u);
  EXPECT_DOUBLE_EQ(h.Sum(), 20000.0);
}

}  // namespace
}  // namespace notifyd
