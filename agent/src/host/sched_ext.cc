#include "host/sched_ext.h"

#include <charconv>
#include <cstdlib>

namespace schedkit::agent {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct KindEntry {
  ExitKind kind;
  const char* name;
  const char* reason;
};
constexpr KindEntry kKinds[] = {
    {ExitKind::kNone, "NONE", ""},
    {ExitKind::kDone, "DONE", ""},
    {ExitKind::kUnreg, "UNREG", "unregistered from user space"},
    {ExitKind::kUnregBpf, "UNREG_BPF", "unregistered from BPF"},
    {ExitKind::kUnregKern, "UNREG_KERN", "unregistered from the main kernel"},
    {ExitKind::kSysrq, "SYSRQ", "disabled by sysrq-S"},
    {ExitKind::kParent, "PARENT", "parent exiting"},
    {ExitKind::kError, "ERROR", "runtime error"},
    {ExitKind::kErrorBpf, "ERROR_BPF", "scx_bpf_error"},
    {ExitKind::kErrorStall, "ERROR_STALL", "runnable task stall"},
};

// /dev/kmsg escapes unprintable bytes as \xNN.
std::string unescapeKmsg(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 2, s.data() + i + 4, v, 16);
      if (ec == std::errc() && p == s.data() + i + 4) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

constexpr std::string_view kPrefix = "sched_ext: ";
constexpr std::string_view kSchedPrefix = "BPF scheduler \"";

}  // namespace

const char* toString(EnableState s) {
  switch (s) {
    case EnableState::kDisabled: return "disabled";
    case EnableState::kEnabling: return "enabling";
    case EnableState::kEnabled: return "enabled";
    case EnableState::kDisabling: return "disabling";
  }
  return "disabled";
}

Result<EnableState> parseEnableState(std::string_view text) {
  std::string_view t = trim(text);
  if (t == "disabled") return EnableState::kDisabled;
  if (t == "enabling") return EnableState::kEnabling;
  if (t == "enabled") return EnableState::kEnabled;
  if (t == "disabling") return EnableState::kDisabling;
  return invalidArgument("unknown sched_ext state \"" + std::string(t) + "\"");
}

Result<std::int64_t> parseCounter(std::string_view text) {
  std::string_view t = trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size()) {
    return invalidArgument("not a counter: \"" + std::string(t) + "\"");
  }
  return v;
}

Result<std::map<std::string, std::uint64_t>> parseEvents(std::string_view text) {
  std::map<std::string, std::uint64_t> out;
  std::size_t lineNo = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineNo;
    if (line.empty()) continue;
    std::size_t sp = line.find_last_of(" \t");
    if (sp == std::string_view::npos) {
      return invalidArgument("events line " + std::to_string(lineNo) + ": expected \"NAME VALUE\"");
    }
    std::string_view name = trim(line.substr(0, sp));
    std::string_view val = line.substr(sp + 1);
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
    if (name.empty() || ec != std::errc() || p != val.data() + val.size()) {
      return invalidArgument("events line " + std::to_string(lineNo) + ": expected \"NAME VALUE\"");
    }
    out[std::string(name)] = v;
  }
  return out;
}

const char* exitKindName(ExitKind k) {
  for (const auto& e : kKinds) {
    if (e.kind == k) return e.name;
  }
  return "UNKNOWN";
}

ExitKind exitKindFromReason(std::string_view reason) {
  for (const auto& e : kKinds) {
    if (e.reason[0] != '\0' && reason == e.reason) return e.kind;
  }
  return ExitKind::kUnknown;
}

Result<KmsgRecord> parseKmsgRecord(std::string_view raw) {
  std::size_t semi = raw.find(';');
  if (semi == std::string_view::npos) return invalidArgument("kmsg record without ';'");
  std::string_view head = raw.substr(0, semi);
  std::string_view text = raw.substr(semi + 1);
  // Continuation lines ("\n KEY=value" dictionary) follow the text; drop them.
  if (std::size_t nl = text.find('\n'); nl != std::string_view::npos) text = text.substr(0, nl);
  KmsgRecord r;
  std::uint64_t fields[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    std::size_t comma = head.find(',');
    std::string_view f = head.substr(0, comma);
    auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), fields[i]);
    if (f.empty() || ec != std::errc() || p != f.data() + f.size()) {
      return invalidArgument("malformed kmsg header \"" + std::string(raw.substr(0, semi)) + "\"");
    }
    if (comma == std::string_view::npos) {
      if (i < 2) return invalidArgument("short kmsg header");
      head = {};
    } else {
      head = head.substr(comma + 1);
    }
  }
  r.priority = static_cast<int>(fields[0] & 7);
  r.seq = fields[1];
  r.usec = fields[2];
  r.text = unescapeKmsg(text);
  return r;
}

std::optional<KmsgEvent> SchedExtLogParser::feed(const KmsgRecord& rec) {
  std::string_view t = rec.text;
  if (!t.starts_with(kPrefix)) {
    // Backtrace lines carry no prefix; they are indented and follow an error report.
    if (inErrorReport_ && !t.empty() && t.front() == ' ') return KmsgBacktrace{std::string(trim(t))};
    inErrorReport_ = false;
    return std::nullopt;
  }
  t.remove_prefix(kPrefix.size());
  if (t.starts_with(kSchedPrefix)) {
    std::string_view rest = t.substr(kSchedPrefix.size());
    std::size_t q = rest.find('"');
    if (q != std::string_view::npos) {
      std::string ops(rest.substr(0, q));
      std::string_view tail = rest.substr(q + 1);
      if (tail.starts_with(" enabled")) {
        inErrorReport_ = false;
        return KmsgEnabled{ops, tail.find("(partial)") != std::string_view::npos};
      }
      if (tail.starts_with(" disabled (") && tail.ends_with(")")) {
        std::string reason(tail.substr(11, tail.size() - 12));
        ExitKind kind = exitKindFromReason(reason);
        lastDisabledOps_ = ops;
        inErrorReport_ = true;
        return KmsgDisabled{ops, reason, kind};
      }
      if (tail.starts_with(" errored, disabling")) {
        // Pre-6.12 out-of-tree kernels; the next line carries the message.
        lastDisabledOps_ = ops;
        inErrorReport_ = true;
        return KmsgDisabled{ops, "runtime error", ExitKind::kError};
      }
    }
  }
  if (inErrorReport_ && !lastDisabledOps_.empty() && t.starts_with(lastDisabledOps_ + ": ")) {
    return KmsgDetail{lastDisabledOps_, std::string(t.substr(lastDisabledOps_.size() + 2))};
  }
  inErrorReport_ = false;
  return KmsgOther{std::string(t)};
}

Result<Uevent> parseUevent(std::string_view d) {
  Uevent ev;
  std::size_t nul = d.find('\0');
  std::string_view head = d.substr(0, nul);
  std::size_t at = head.find('@');
  if (at == std::string_view::npos) {
    // udevd's re-broadcasts start with "libudev"; not a kernel uevent.
    return invalidArgument("not a kernel uevent");
  }
  ev.action = std::string(head.substr(0, at));
  ev.devpath = std::string(head.substr(at + 1));
  d = nul == std::string_view::npos ? std::string_view() : d.substr(nul + 1);
  while (!d.empty()) {
    nul = d.find('\0');
    std::string_view kv = d.substr(0, nul);
    d = nul == std::string_view::npos ? std::string_view() : d.substr(nul + 1);
    std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    ev.vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  return ev;
}

std::optional<SchedExtUevent> toSchedExtUevent(const Uevent& ev) {
  auto sub = ev.vars.find("SUBSYSTEM");
  bool isScx = (sub != ev.vars.end() && sub->second == "sched_ext") ||
               ev.devpath == "/kernel/sched_ext/root";
  if (!isScx) return std::nullopt;
  if (ev.action == "add") {
    auto it = ev.vars.find("SCXOPS");
    return SchedExtUevent{true, it == ev.vars.end() ? "" : it->second};
  }
  if (ev.action == "remove") return SchedExtUevent{false, ""};
  return std::nullopt;
}

int compareKernelRelease(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s, bool& more) -> long {
    long v = 0;
    std::size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (v < 1'000'000'000) v = v * 10 + (s[i] - '0');  // saturate: no version is that long
      ++i;
    }
    more = i > 0;
    s.remove_prefix(i);
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
    } else {
      s = {};  // stop at the first non-numeric suffix ("+deb13-amd64", "-rc1")
    }
    return v;
  };
  for (int i = 0; i < 4; ++i) {
    bool ma = false, mb = false;
    long va = next(a, ma), vb = next(b, mb);
    if (!ma && !mb) return 0;
    if (va != vb) return va < vb ? -1 : 1;
  }
  return 0;
}

}  // namespace schedkit::agent
