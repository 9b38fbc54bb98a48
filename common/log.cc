#include "common/log.h"

#include <time.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace notifyd {
namespace {

// Lines of Log() in JSON go through this logger (sharing the default
// logger's sink): its payload is the object's members, already rendered.
constexpr char kFieldsLoggerName[] = "notifyd.fields";
constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

// JSON only: set once by ConfigureLogging, never destroyed (a library may
// log from any thread until the process ends). Unset (text): Log() writes
// to whatever spdlog's default logger is at the time.
std::atomic<spdlog::logger*> json_logger{nullptr};

// The length of the valid UTF-8 sequence at s[i] (no overlong forms, no
// surrogates, at most U+10FFFF), or 0.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// `text` with every byte that is not part of valid UTF-8 replaced by
// U+FFFD; `text` itself (no copy) in the usual case.
absl::string_view ValidUtf8(absl::string_view text, std::string* storage) {
  size_t i = 0;
  while (i < text.size()) {
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return text;
  storage->assign(text.data(), i);
  while (i < text.size()) {
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      storage->append("\xEF\xBF\xBD");
      ++i;
    } else {
      storage->append(text.data() + i, n);
      i += n;
    }
  }
  return *storage;
}

// True when `value` can stand bare after "key=" in text.
bool IsBareWord(absl::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '"' || c == '=' || c == '\\') {
      return false;
    }
  }
  return !value.empty();
}

void AppendValue(LogFormat format, const LogField& field, std::string* out) {
  switch (field.kind()) {
    case LogField::Kind::kString:
      if (format == LogFormat::kText && IsBareWord(field.string_value())) {
        absl::StrAppend(out, field.string_value());
      } else {
        out->append(JsonQuote(field.string_value()));
      }
      return;
    case LogField::Kind::kInt:
      absl::StrAppend(out, field.int_value());
      return;
    case LogField::Kind::kUint:
      absl::StrAppend(out, field.uint_value());
      return;
    case LogField::Kind::kBool:
      out->append(field.uint_value() != 0 ? "true" : "false");
      return;
  }
}

const char* LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// "2024-05-01T12:34:56.789Z".
void AppendUtcMillis(spdlog::log_clock::time_point time, std::string* out) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         time.time_since_epoch())
                         .count();
  const time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[40];
  const int n = std::snprintf(
      text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
      utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
      utc.tm_sec, static_cast<int>(ms % 1000));
  out->append(text, static_cast<size_t>(n));
}

// Every line of the JSON format: one object. Lines from Log() arrive with
// their members rendered; any other line's text becomes "msg".
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    std::string line = "{\"ts\":\"";
    AppendUtcMillis(msg.time, &line);
    absl::StrAppend(&line, "\",\"level\":\"", LevelName(msg.level), "\",");
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    if (absl::string_view(msg.logger_name.data(), msg.logger_name.size()) ==
        kFieldsLoggerName) {
      absl::StrAppend(&line, payload);
    } else {
      absl::StrAppend(&line, "\"msg\":", JsonQuote(payload));
    }
    line.append("}\n");
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

// The logger Log() writes to and the format of its payload.
std::pair<spdlog::logger*, LogFormat> Target() {
  if (spdlog::logger* logger = json_logger.load()) {
    return {logger, LogFormat::kJson};
  }
  return {spdlog::default_logger_raw(), LogFormat::kText};
}

}  // namespace

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(
    absl::string_view name) {
  for (auto level :
       {spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
        spdlog::level::warn, spdlog::level::err}) {
    if (name == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--log_level must be trace, debug, info, warn or error, not ", name));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_format must be text or json, not ", name));
}

std::string JsonQuote(absl::string_view text) {
  std::string storage;
  absl::string_view valid = ValidUtf8(text, &storage);
  return boost::json::serialize(
      boost::json::string_view(valid.data(), valid.size()));
}

std::string RenderLogBody(LogFormat format, absl::string_view message,
                          LogFields fields) {
  std::string out;
  if (format == LogFormat::kJson) {
    absl::StrAppend(&out, "\"msg\":", JsonQuote(message));
  } else {
    absl::StrAppend(&out, message);
  }
  for (const LogField& field : fields) {
    if (field.kind() == LogField::Kind::kString &&
        field.string_value().empty()) {
      continue;
    }
    if (format == LogFormat::kJson) {
      absl::StrAppend(&out, ",", JsonQuote(field.key()), ":");
    } else {
      absl::StrAppend(&out, " ", field.key(), "=");
    }
    AppendValue(format, field, &out);
  }
  return out;
}

void ConfigureLogging(LogFormat format, spdlog::level::level_enum level) {
  if (format == LogFormat::kText) {
    spdlog::set_pattern(kTextPattern);
  } else if (json_logger.load() == nullptr) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonLineFormatter>());
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
    // Registered, so spdlog::set_level reaches it too; never destroyed
    // (held from a static, so leak checkers see it reachable).
    static std::shared_ptr<spdlog::logger>* const fields =
        new std::shared_ptr<spdlog::logger>(
            std::make_shared<spdlog::logger>(kFieldsLoggerName, sink));
    spdlog::register_logger(*fields);
    json_logger = fields->get();
  }
  spdlog::set_level(level);
}

void Log(spdlog::level::level_enum level, absl::string_view message,
         LogFields fields) {
  auto [logger, format] = Target();
  if (logger == nullptr || !logger->should_log(level)) return;
  const std::string body = RenderLogBody(format, message, fields);
  logger->log(level, spdlog::string_view_t(body.data(), body.size()));
}

bool LogEnabled(spdlog::level::level_enum level) {
  spdlog::logger* logger = Target().first;
  return logger != nullptr && logger->should_log(level);
}

}  // namespace notifyd
