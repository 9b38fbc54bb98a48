// Tells systemd how the service is doing when it runs as a Type=notify
// unit (packaging/notifyd.service), through libsystemd's sd_notify:
//
//   READY=1     once serving: every listener bound and the store open
//   STOPPING=1  when shutdown starts
//   WATCHDOG=1  every half WATCHDOG_USEC, while a liveness probe answers
//
// Outside systemd (no NOTIFY_SOCKET) every call does nothing. A
// NOTIFY_SOCKET that cannot be reached (no such socket, connection
// refused, not a socket) and a WATCHDOG_USEC that does not parse are
// logged once, as a warning, and the server goes on: notifying is never a
// reason to stop serving.
//
// The watchdog pings from its own thread, and only after the probe it was
// given returned: a process whose store or hub no longer answers stops
// pinging, and systemd restarts it (WatchdogSec=, Restart=on-failure).
//
// Threading: Ready(), StartWatchdog() and Stopping() are called by the
// owner, in that order (Ready() and Stopping() may be called alone);
// Ready() and Stopping() may run while the watchdog thread pings, since
// every sd_notify call opens its own socket. The destructor stops the
// watchdog thread.
#ifndef NOTIFYD_SERVER_SERVICE_NOTIFIER_H_
#define NOTIFYD_SERVER_SERVICE_NOTIFIER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace notifyd::server {

// The shortest interval between two WATCHDOG=1, whatever WATCHDOG_USEC
// says: a tiny value must not turn the watchdog thread into a busy loop.
inline constexpr absl::Duration kMinWatchdogPing = absl::Milliseconds(10);

class ServiceNotifier {
 public:
  // Whether the process still works; may block up to `deadline` (the ping
  // interval) and answers false when it could not tell in time.
  using Probe = std::function<bool(absl::Duration deadline)>;

  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
  // environment (and leaves them there).
  ServiceNotifier();
  ~ServiceNotifier();

  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // Half of WATCHDOG_USEC (at least kMinWatchdogPing) when systemd watches
  // this process; nullopt otherwise.
  std::optional<absl::Duration> watchdog_interval() const {
    return watchdog_interval_;
  }

  // READY=1, with `status` as STATUS= (what `systemctl status` shows).
  void Ready(absl::string_view status);

  // With a watchdog interval: starts the thread that, every interval,
  // calls `probe` and sends WATCHDOG=1 when it returns true. Without one:
  // does nothing. Call once.
  void StartWatchdog(Probe probe);

  // STOPPING=1, then stops the watchdog thread (waits for a probe in
  // progress: at most one interval). systemd does not watch a stopping
  // service; TimeoutStopSec= bounds the shutdown instead.
  void Stopping();

 private:
  // sd_notify(message); the first failure is logged, later ones are not.
  void Send(const std::string& message);
  void WatchdogLoop(Probe probe);
  void StopWatchdog();

  std::optional<absl::Duration> watchdog_interval_;
  std::atomic<bool> failure_logged_{false};

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_SERVICE_NOTIFIER_H_
