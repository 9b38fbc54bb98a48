// notifyd's log lines, as text for a terminal or as JSON for a log
// pipeline (--log_format), with structured fields either way.
//
// A call site passes its message and its fields as keys and values, never
// formatted into the message:
//
//   Log(spdlog::level::debug, "stored",
//       {{"id", n.id}, {"channel", n.channel}, {"trace_id", trace_id}});
//
// text:  2024-05-01T12:34:56.789+0000 debug stored id=7 channel=news
//        trace_id=4bf92f3577b34da6a3ce929d0e0e4736
// json:  {"ts":"2024-05-01T12:34:56.789Z","level":"debug","msg":"stored",
//         "id":7,"channel":"news","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//
// In JSON every line on stderr is one JSON object, also the lines logged
// with plain spdlog calls (their text becomes "msg") and those of the
// libraries notifyd routes through spdlog (server/library_logs.h): "ts"
// (RFC 3339, UTC, milliseconds), "level" (trace, debug, info, warn, error,
// critical), "msg", then the fields in the order given. Strings are escaped
// by Boost.JSON; bytes that are not UTF-8 become U+FFFD, so a line is
// valid JSON whatever a field holds. In text a value is written bare when
// it is a number, a boolean or a word without spaces, quotes, '=' or
// control characters, else as a quoted JSON string.
//
// A string field whose value is empty is left out (an absent trace_id, an
// unknown peer). Keys are the call site's constants; "ts", "level" and
// "msg" are taken.
//
// Threading: ConfigureLogging once, early in main, before other threads
// log; Log is thread-safe and costs a level check when the level is off.
// Without ConfigureLogging (tests that run the server in their process)
// lines go to spdlog's default logger as text.
#ifndef NOTIFYD_COMMON_LOG_H_
#define NOTIFYD_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spdlog/common.h"

namespace notifyd {

enum class LogFormat { kText, kJson };

// "text" or "json"; INVALID_ARGUMENT naming --log_format otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

// "trace", "debug", "info", "warn" or "error"; INVALID_ARGUMENT naming
// --log_level otherwise.
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(absl::string_view name);

// One key and its value: a string (viewed, not copied: it must outlive the
// Log call, as a temporary of the calling expression does), a signed or
// unsigned integer, or a boolean.
class LogField {
 public:
  enum class Kind : uint8_t { kString, kInt, kUint, kBool };

  LogField(absl::string_view key, absl::string_view value)
      : key_(key), kind_(Kind::kString), string_(value) {}
  LogField(absl::string_view key, const std::string& value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, const char* value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, bool value)
      : key_(key), kind_(Kind::kBool), uint_(value ? 1 : 0) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>,
                             int> = 0>
  LogField(absl::string_view key, T value) : key_(key) {
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::kInt;
      int_ = value;
    } else {
      kind_ = Kind::kUint;
      uint_ = value;
    }
  }

  // `value` under `key`, or nothing when it is 0: a count of dropped
  // lines, say, that would be noise on every line.
  static LogField NonZero(absl::string_view key, uint64_t value) {
    return value == 0 ? LogField(key, absl::string_view())
                      : LogField(key, value);
  }

  absl::string_view key() const { return key_; }
  Kind kind() const { return kind_; }
  absl::string_view string_value() const { return string_; }
  int64_t int_value() const { return int_; }
  uint64_t uint_value() const { return uint_; }

 private:
  absl::string_view key_;
  Kind kind_ = Kind::kString;
  absl::string_view string_;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
};

using LogFields = std::initializer_list<LogField>;

// Makes spdlog's default logger write `format` lines to stderr from
// `level` up, and the libraries' lines with them. Call once, early in main.
void ConfigureLogging(LogFormat format, spdlog::level::level_enum level);

// Logs `message` with `fields` at `level`, unless the level is off.
void Log(spdlog::level::level_enum level, absl::string_view message,
         LogFields fields = {});

// Whether a line at `level` would be written: for fields that cost work to
// compute.
bool LogEnabled(spdlog::level::level_enum level);

// The parts of a line after "ts" and "level", as `format` writes them:
// json: "msg":"…","k":v,… (the object's members, no braces); text:
// message k=v …. For tests and the line formatter.
std::string RenderLogBody(LogFormat format, absl::string_view message,
                          LogFields fields);

// `text` as a JSON string literal, quotes included; invalid UTF-8 is
// replaced by U+FFFD.
std::string JsonQuote(absl::string_view text);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_LOG_H_
