// notifyd: the notification server. Flags are documented by --help.
#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/build_info.h"
#include "common/log.h"
#include "server/app.h"
#include "server/flags.h"
#include "server/library_logs.h"
#include "server/service_notifier.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "notifyd: durable notifications over gRPC, delivered over SSE.\n"
      "Usage: notifyd [--flagfile=FILE] [--grpc_listen=HOST:PORT] "
      "[--http_listen=HOST:PORT] [--db=PATH] ...");
  // --help lists the flags of server/flags.cc (absl looks for a file named
  // after the program by default, and finds none); --version names the build.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] {
    return absl::StrCat("notifyd ", notifyd::kBuildVersion, " (commit ",
                        notifyd::kBuildCommit, ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  // Debian's abseil is built with absl::Mutex deadlock detection on, which
  // records a lock graph on every acquisition of every mutex: too slow for
  // a release build, where clang's thread-safety analysis (make
  // check-threads) and the tests check lock use instead. Debug and ASan
  // builds keep it, so the test suites run the binary with it on.
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  // Logging first, so that every later line (a bad flag's included) is in
  // the chosen format.
  const notifyd::server::ProcessFlags process =
      notifyd::server::ProcessFlagsFromFlags();
  absl::StatusOr<notifyd::LogFormat> log_format =
      notifyd::ParseLogFormat(process.log_format);
  absl::StatusOr<spdlog::level::level_enum> log_level =
      notifyd::ParseLogLevel(process.log_level);
  if (!log_format.ok() || !log_level.ok()) {
    std::fprintf(
        stderr, "notifyd: %s\n",
        std::string((log_format.ok() ? log_level.status() : log_format.status())
                        .message())
            .c_str());
    return 2;
  }
  notifyd::ConfigureLogging(*log_format, *log_level);
  notifyd::server::RouteLibraryLogsToSpdlog();
  if (rest.size() > 1) {
    notifyd::Log(spdlog::level::err, "unexpected argument (flags only)",
                 {{"argument", rest[1]}});
    return 2;
  }

  absl::StatusOr<notifyd::server::AppOptions> options =
      notifyd::server::OptionsFromFlags();
  if (!options.ok()) {
    notifyd::Log(spdlog::level::err, "invalid flags",
                 {{"error", options.status().ToString()}});
    return 2;
  }

  // Signals are taken by sigwait in this thread only: every thread started
  // from here on inherits the blocked mask.
  sigset_t handled_signals;
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto app = notifyd::server::App::Start(*std::move(options));
  if (!app.ok()) {
    notifyd::Log(spdlog::level::err, "cannot start",
                 {{"error", app.status().ToString()}});
    return 1;
  }
  if (const std::string& path = process.ready_file; !path.empty()) {
    // Written under a temporary name and renamed, so readers never see a
    // partial file.
    std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr ||
        std::fprintf(f,
                     "{\"grpc_port\":%d,\"http_port\":%d,\"admin_port\":%d}\n",
                     (*app)->grpc_port(), (*app)->http_port(),
                     (*app)->admin_port()) < 0 ||
        std::fclose(f) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
      notifyd::Log(spdlog::level::err, "cannot write --ready_file",
                   {{"path", path}});
      (*app)->Shutdown();
      return 1;
    }
  }
  // Under systemd (Type=notify): READY=1 now that every listener is bound
  // and the store is open, watchdog pings while the store answers.
  notifyd::server::ServiceNotifier systemd;
  systemd.Ready(absl::StrCat("serving gRPC on port ", (*app)->grpc_port(),
                             ", HTTP on port ", (*app)->http_port(),
                             ", admin on port ", (*app)->admin_port()));
  systemd.StartWatchdog([app = app->get()](absl::Duration deadline) {
    return app->Responsive(deadline);
  });
  int signal_number = 0;
  for (;;) {
    sigwait(&handled_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    // SIGHUP: rotate API keys without dropping a stream or a call.
    absl::StatusOr<size_t> keys = (*app)->ReloadApiKeys();
    if (keys.ok()) {
      notifyd::Log(spdlog::level::info, "received SIGHUP, reloaded API keys",
                   {{"api_keys", *keys}});
    } else {
      notifyd::Log(spdlog::level::err,
                   "received SIGHUP, kept the previous API keys",
                   {{"error", keys.status().ToString()}});
    }
  }
  notifyd::Log(spdlog::level::info, "shutting down",
               {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  systemd.Stopping();
  (*app)->Shutdown();
  return 0;
}
