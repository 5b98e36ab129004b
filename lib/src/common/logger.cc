#include "schedkit/common/logger.h"

#include <cstdio>

#include "schedkit/common/duration.h"

namespace schedkit {

Result<LogLevel> parseLogLevel(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn" || s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return invalidArgument("unknown log level \"" + std::string(s) +
                         "\" (use debug, info, warn or error)");
}

Result<LogFormat> parseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return invalidArgument("unknown log format \"" + std::string(s) + "\" (use text or json)");
}

LogField::LogField(std::string_view k, double v) : key_(k), quoted_(false) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value_ = buf;
}

LogField::LogField(std::string_view k, Duration d)
    : key_(k), value_(formatDuration(d)), quoted_(true) {}

void appendJsonEscaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

namespace {
const char* levelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}
}  // namespace

Logger::Logger(const Clock& clock, Sink sink, LogFormat format, LogLevel level)
    : shared_(std::make_shared<Shared>()) {
  shared_->clock = &clock;
  shared_->sink = std::move(sink);
  shared_->format = format;
  shared_->level = level;
}

Logger Logger::stderrLogger(const Clock& clock, LogFormat format, LogLevel level) {
  return Logger(
      clock,
      [](std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
      },
      format, level);
}

Logger Logger::with(std::initializer_list<LogField> fields) const {
  Logger child = *this;
  child.context_.insert(child.context_.end(), fields.begin(), fields.end());
  return child;
}

std::string Logger::format(LogLevel level, std::string_view msg, const LogFields& fields) const {
  std::string ts = formatRfc3339Micro(shared_->clock->wallNow());
  std::string out;
  if (shared_->format == LogFormat::kJson) {
    out = "{\"ts\":\"" + ts + "\",\"level\":\"" + levelName(level) + "\",\"msg\":\"";
    appendJsonEscaped(out, msg);
    out += '"';
    for (const auto& f : fields) {
      out += ",\"";
      if (f.key() == "ts" || f.key() == "level" || f.key() == "msg") out += "field.";
      appendJsonEscaped(out, f.key());
      out += "\":";
      if (f.quoted()) {
        out += '"';
        appendJsonEscaped(out, f.value());
        out += '"';
      } else {
        out += f.value();
      }
    }
    out += "}\n";
    return out;
  }
  out = ts + " " + levelName(level) + " " + std::string(msg);
  for (const auto& f : fields) {
    out += ' ';
    out += f.key();
    out += '=';
    if (f.quoted() && needsQuotes(f.value())) {
      out += '"';
      appendJsonEscaped(out, f.value());
      out += '"';
    } else {
      out += f.value();
    }
  }
  out += '\n';
  return out;
}

void Logger::log(LogLevel level, std::string_view msg,
                 std::initializer_list<LogField> fields) const {
  if (!enabled(level)) return;
  LogFields all = context_;
  all.insert(all.end(), fields.begin(), fields.end());
  std::string line = format(level, msg, all);
  std::lock_guard lk(shared_->mu);
  shared_->sink(line);
}

}  // namespace schedkit
