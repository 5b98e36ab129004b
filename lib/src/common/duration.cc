#include "schedkit/common/duration.h"

#include <cstdint>
#include <limits>

namespace schedkit {

namespace {
struct Unit {
  std::string_view name;
  std::int64_t ns;
};
constexpr Unit kUnits[] = {
    {"ns", 1},          {"us", 1'000},          {"\xc2\xb5s", 1'000}, {"\xce\xbcs", 1'000},
    {"ms", 1'000'000},  {"s", 1'000'000'000},    {"m", 60'000'000'000}, {"h", 3'600'000'000'000},
};
}  // namespace

Result<Duration> parseDuration(std::string_view in) {
  const std::string quoted = "\"" + std::string(in) + "\"";
  if (in.empty()) return invalidArgument("empty duration");
  if (in == "0") return Duration::zero();
  if (in.front() == '-') return invalidArgument("negative duration " + quoted);
  if (in.front() == '+') in.remove_prefix(1);
  long double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < in.size()) {
    std::size_t start = i;
    long double value = 0;
    bool digits = false;
    while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
      value = value * 10 + (in[i] - '0');
      ++i;
      digits = true;
    }
    if (i < in.size() && in[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
        value += (in[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) {
      return invalidArgument("invalid duration " + quoted + ": expected a number at offset " +
                             std::to_string(start));
    }
    std::size_t ustart = i;
    while (i < in.size() && !(in[i] >= '0' && in[i] <= '9') && in[i] != '.') ++i;
    std::string_view unit = in.substr(ustart, i - ustart);
    if (unit.empty()) {
      return invalidArgument("invalid duration " + quoted +
                             ": missing unit (use ns, us, ms, s, m or h)");
    }
    const Unit* u = nullptr;
    for (const auto& k : kUnits) {
      if (k.name == unit) u = &k;
    }
    if (u == nullptr) {
      return invalidArgument("invalid duration " + quoted + ": unknown unit \"" +
                             std::string(unit) + "\" (use ns, us, ms, s, m or h)");
    }
    total += value * static_cast<long double>(u->ns);
    any = true;
  }
  if (!any) return invalidArgument("invalid duration " + quoted);
  if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
    return invalidArgument("duration " + quoted + " is too large");
  }
  return Duration(static_cast<std::int64_t>(total));
}

std::string formatDuration(Duration d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns < 1'000'000'000) {
    // Sub-second: use the largest unit that keeps an integer or short fraction.
    auto fmt = [&](std::int64_t unit, const char* name) {
      std::int64_t whole = ns / unit, frac = ns % unit;
      std::string s = std::to_string(whole);
      if (frac != 0) {
        std::string f = std::to_string(frac);
        std::string digits(std::to_string(unit).size() - 1 - f.size(), '0');
        digits += f;
        while (!digits.empty() && digits.back() == '0') digits.pop_back();
        s += "." + digits;
      }
      return s + name;
    };
    if (ns < 1'000) return out + std::to_string(ns) + "ns";
    if (ns < 1'000'000) return out + fmt(1'000, "µs");
    return out + fmt(1'000'000, "ms");
  }
  std::int64_t h = ns / 3'600'000'000'000;
  ns %= 3'600'000'000'000;
  std::int64_t m = ns / 60'000'000'000;
  ns %= 60'000'000'000;
  std::int64_t s = ns / 1'000'000'000;
  std::int64_t frac = ns % 1'000'000'000;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f = std::string(9 - f.size(), '0') + f;
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  out += "s";
  return out;
}

}  // namespace schedkit
