#include "server/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/log_limiter.h"
#include "spdlog/spdlog.h"

namespace notifyd::server {
namespace {

// Never destroyed: a library may log from any thread until the process
// ends, after static destructors have run.
LogLimiter& ProtobufLimiter() {
  static LogLimiter* const limiter =
      new LogLimiter(kLibraryLogBurst, kLibraryLogInterval);
  return *limiter;
}

LogLimiter& GrpcLimiter() {
  static LogLimiter* const limiter =
      new LogLimiter(kLibraryLogBurst, kLibraryLogInterval);
  return *limiter;
}

// Logs one library line at `level` unless spdlog would not print it, or
// `limiter` (null: never drop) refuses it.
void Emit(spdlog::level::level_enum level, LogLimiter* limiter,
          const char* library, const char* file, int line,
          absl::string_view message) {
  if (!LogEnabled(level)) return;
  uint64_t dropped = 0;
  if (limiter != nullptr && !limiter->Allow(&dropped)) return;
  Log(level, absl::StripTrailingAsciiWhitespace(message),
      {{"library", library},
       {"source", absl::StrCat(file != nullptr ? file : "?", ":", line)},
       LogField::NonZero("dropped", dropped)});
}

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* file,
                        int line, const std::string& message) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      Emit(spdlog::level::info, &ProtobufLimiter(), "protobuf", file, line,
           message);
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      Emit(spdlog::level::warn, &ProtobufLimiter(), "protobuf", file, line,
           message);
      break;
    case google::protobuf::LOGLEVEL_ERROR:
      Emit(spdlog::level::err, &ProtobufLimiter(), "protobuf", file, line,
           message);
      break;
    default:
      // FATAL: the process is about to end; this line says why.
      Emit(spdlog::level::critical, nullptr, "protobuf", file, line, message);
      if (spdlog::logger* logger = spdlog::default_logger_raw()) {
        logger->flush();
      }
      break;
  }
}

void GrpcLogHandler(gpr_log_func_args* args) {
  spdlog::level::level_enum level = spdlog::level::err;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = spdlog::level::info;
  absl::string_view message = args->message != nullptr ? args->message : "";
  // GPR_ASSERT logs this just before abort(): never dropped.
  const bool last_words = absl::StartsWith(message, "assertion failed");
  Emit(level, last_words ? nullptr : &GrpcLimiter(), "grpc", args->file,
       args->line, message);
}

}  // namespace

void RouteLibraryLogsToSpdlog() {
  google::protobuf::SetLogHandler(&ProtobufLogHandler);
  // gRPC calls this only for lines at or above its verbosity.
  gpr_set_log_function(&GrpcLogHandler);
}

}  // namespace notifyd::server
