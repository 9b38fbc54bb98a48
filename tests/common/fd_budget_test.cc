// The descriptor budget: listeners' connection caps plus a reserve always
// fit the process's limit, and flags that would not fit are refused.
#include "common/fd_budget.h"

#include <sys/resource.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd {
namespace {

using ::testing::HasSubstr;

TEST(FdBudgetTest, DefaultsShareTheLimitAndKeepTheReserve) {
  absl::StatusOr<FdBudget> b = PlanFdBudget(20000, 0, 0);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->grpc, 256u);
  EXPECT_EQ(b->http, 20000u - kFdReserve - 256u);
  EXPECT_EQ(b->reserve, kFdReserve);
  EXPECT_EQ(b->http + b->grpc + b->reserve, 20000u);
}

TEST(FdBudgetTest, ASmallLimitStillGivesGrpcItsFloor) {
  absl::StatusOr<FdBudget> b = PlanFdBudget(1024, 0, 0);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->grpc, (1024u - kFdReserve) / 16);
  EXPECT_EQ(b->http + b->grpc + kFdReserve, 1024u);
}

TEST(FdBudgetTest, ExplicitCapsThatFitAreKept) {
  absl::StatusOr<FdBudget> b = PlanFdBudget(1024, 800, 0);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->http, 800u);
  EXPECT_EQ(b->grpc, 16u);
  EXPECT_GE(b->reserve, kFdReserve);
}

TEST(FdBudgetTest, CapsOverTheLimitAreRefusedNamingTheFlags) {
  // The reported attack: the default 20,000 HTTP connections under a
  // 20,000-file limit leave nothing for gRPC and the store.
  absl::StatusOr<FdBudget> b = PlanFdBudget(20000, 20000, 0);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b.status().message(), HasSubstr("--max_connections=20000"));
  EXPECT_THAT(b.status().message(), HasSubstr("ulimit -n"));

  b = PlanFdBudget(1024, 100, 900);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("--max_grpc_connections=900"));
}

TEST(FdBudgetTest, ALimitTooSmallToServeIsRefused) {
  absl::StatusOr<FdBudget> b = PlanFdBudget(100, 0, 0);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("at least"));
}

TEST(FdBudgetTest, RaiseFdLimitReportsTheSoftLimitInForce) {
  uint64_t limit = RaiseFdLimit();
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(limit, rl.rlim_cur);
  EXPECT_EQ(rl.rlim_cur, rl.rlim_max);
}

}  // namespace
}  // namespace notifyd
