#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

Result<LogLevel> parseLogLevel(std::string_view s);
Result<LogFormat> parseLogFormat(std::string_view s);

// One key=value of a structured log line. Numbers and booleans stay unquoted in JSON.
class LogField {
 public:
  LogField(std::string_view k, std::string_view v) : key_(k), value_(v), quoted_(true) {}
  LogField(std::string_view k, const char* v) : key_(k), value_(v ? v : ""), quoted_(true) {}
  LogField(std::string_view k, const std::string& v) : key_(k), value_(v), quoted_(true) {}
  LogField(std::string_view k, bool v) : key_(k), value_(v ? "true" : "false"), quoted_(false) {}
  LogField(std::string_view k, int v) : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, long v) : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, long long v) : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, unsigned v) : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, unsigned long v)
      : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, unsigned long long v)
      : key_(k), value_(std::to_string(v)), quoted_(false) {}
  LogField(std::string_view k, double v);
  LogField(std::string_view k, const Status& s) : key_(k), value_(s.toString()), quoted_(true) {}
  LogField(std::string_view k, Duration d);

  const std::string& key() const { return key_; }
  const std::string& value() const { return value_; }
  bool quoted() const { return quoted_; }

 private:
  std::string key_;
  std::string value_;
  bool quoted_;
};
using LogFields = std::vector<LogField>;

// Structured logger: text ("ts LEVEL msg k=v ...") for people, JSON lines for collectors.
// Thread-safe. Child loggers made with with() share the sink and add fixed fields.
class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;

  Logger(const Clock& clock, Sink sink, LogFormat format = LogFormat::kText,
         LogLevel level = LogLevel::kInfo);
  // A logger writing to stderr.
  static Logger stderrLogger(const Clock& clock, LogFormat format, LogLevel level);

  Logger with(std::initializer_list<LogField> fields) const;

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {}) const;
  void debug(std::string_view msg, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kDebug, msg, f);
  }
  void info(std::string_view msg, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kInfo, msg, f);
  }
  void warn(std::string_view msg, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kWarn, msg, f);
  }
  void error(std::string_view msg, std::initializer_list<LogField> f = {}) const {
    log(LogLevel::kError, msg, f);
  }
  bool enabled(LogLevel level) const { return level >= shared_->level; }

  // Formatting, exposed for tests.
  std::string format(LogLevel level, std::string_view msg, const LogFields& fields) const;

 private:
  struct Shared {
    const Clock* clock;
    Sink sink;
    LogFormat format;
    LogLevel level;
    std::mutex mu;
  };
  std::shared_ptr<Shared> shared_;
  LogFields context_;
};

// JSON string escaping, shared by the logger and small hand-written JSON emitters.
void appendJsonEscaped(std::string& out, std::string_view s);

}  // namespace schedkit
