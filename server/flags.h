// notifyd's command line: every flag is defined in flags.cc (so --help,
// which lists that file's flags, shows them all, and the man page built
// from --help does too), and read here into the one AppOptions the App is
// built from. Compiled into the notifyd executable only: tests build
// AppOptions directly.
#ifndef NOTIFYD_SERVER_FLAGS_H_
#define NOTIFYD_SERVER_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/app_options.h"

namespace notifyd::server {

// The flags' values as AppOptions, checked as App::Start would check them
// (ValidateStoreAndBus, ValidateLimits, PlanDescriptors) and with the token
// keys read from their files; INVALID_ARGUMENT (or a file's error) naming
// the flag otherwise. Call after absl::ParseCommandLine.
absl::StatusOr<AppOptions> OptionsFromFlags();

// What main() itself does with flags, around the App.
struct ProcessFlags {
  std::string ready_file;  // --ready_file: the bound ports as JSON
  std::string log_level;   // --log_level, not yet parsed
  std::string log_format;  // --log_format, not yet parsed
};
ProcessFlags ProcessFlagsFromFlags();

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_FLAGS_H_
