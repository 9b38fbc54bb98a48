#include "server/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "spdlog/spdlog.h"

namespace notifyd::server {
namespace {

// The variable's value; empty when unset.
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

ServiceNotifier::ServiceNotifier() {
  if (Env("NOTIFY_SOCKET").empty()) return;
  uint64_t usec = 0;
  int r = sd_watchdog_enabled(/*unset_environment=*/0, &usec);
  if (r < 0) {
    spdlog::warn("systemd: ignoring WATCHDOG_USEC={} ({}): no watchdog pings",
                 Env("WATCHDOG_USEC"), std::strerror(-r));
    return;
  }
  if (r > 0) {
    watchdog_interval_ =
        std::max(absl::Microseconds(usec) / 2, kMinWatchdogPing);
  }
}

ServiceNotifier::~ServiceNotifier() { StopWatchdog(); }

void ServiceNotifier::Send(const std::string& message) {
  int r = sd_notify(/*unset_environment=*/0, message.c_str());
  if (r >= 0 || failure_logged_.exchange(true)) return;
  spdlog::warn(
      "systemd: cannot notify NOTIFY_SOCKET={} ({}); serving without "
      "telling systemd (logged once)",
      Env("NOTIFY_SOCKET"), std::strerror(-r));
}

void ServiceNotifier::Ready(absl::string_view status) {
  Send(absl::StrCat("READY=1\nSTATUS=", status));
}

void ServiceNotifier::StartWatchdog(Probe probe) {
  if (!watchdog_interval_ || watchdog_.joinable()) return;
  watchdog_ = std::thread([this, probe = std::move(probe)] {
    NameThisThread("watchdog");
    WatchdogLoop(probe);
  });
}

void ServiceNotifier::WatchdogLoop(Probe probe) {
  const absl::Duration interval = *watchdog_interval_;
  for (;;) {
    absl::Time next = absl::Now() + interval;
    // Blocks while the process is wedged: then no ping goes out.
    if (probe(interval)) Send("WATCHDOG=1");
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&stop_), next);
    if (stop_) return;
  }
}

void ServiceNotifier::StopWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
}

void ServiceNotifier::Stopping() {
  Send("STOPPING=1");
  StopWatchdog();
}

}  // namespace notifyd::server
