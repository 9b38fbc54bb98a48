#include "common/fd_budget.h"

#include <sys/resource.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace notifyd {

uint64_t RaiseFdLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return kMinFdLimit;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20
                                      : static_cast<uint64_t>(rl.rlim_cur);
}

absl::StatusOr<FdBudget> PlanFdBudget(uint64_t limit, uint64_t http,
                                      uint64_t grpc) {
  if (limit < kMinFdLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the process may open only ", limit,
        " files (ulimit -n); notifyd needs at least ", kMinFdLimit));
  }
  const uint64_t available = limit - kFdReserve;
  FdBudget budget{.limit = limit, .http = http, .grpc = grpc};
  if (budget.grpc == 0) {
    uint64_t left = available - std::min(http, available);
    budget.grpc = std::clamp<uint64_t>(left / 16, 16, 256);
  }
  if (budget.http == 0 && budget.grpc < available) {
    budget.http = available - budget.grpc;
  }
  if (budget.http == 0 || budget.http + budget.grpc > available) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_connections=", http == 0 ? "auto" : absl::StrCat(http),
        " and --max_grpc_connections=", grpc == 0 ? "auto" : absl::StrCat(grpc),
        " (", budget.http, " + ", budget.grpc, ") do not fit in the ", limit,
        " files this process may open (ulimit -n) beside a reserve of ",
        kFdReserve,
        " for the store and the listeners; lower them (0 = fit to the limit) "
        "or raise the limit"));
  }
  budget.reserve = limit - budget.http - budget.grpc;
  return budget;
}

}  // namespace notifyd
