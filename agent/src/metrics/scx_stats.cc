#include "metrics/scx_stats.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>

namespace schedkit::agent {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxHelp = 256;
constexpr std::size_t kMaxKeyLabel = 128;
constexpr std::size_t kReadChunk = 64u << 10;
constexpr const char* kPrefix = "schedkit_scx_";
constexpr std::size_t kMaxDepth = 32;  // scx stats nest 4 levels at most, in the response

// Cuts s to at most n bytes without splitting a UTF-8 sequence.
std::string truncateUtf8(std::string s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

// A short, printable excerpt of what a peer sent, for error messages.
std::string preview(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out;
}

// How deeply arrays and objects nest, outside strings. The parser copes with any depth, but
// copying and dumping a json value recurse, so deep input is refused before it is parsed.
std::size_t nestingDepth(std::string_view s) {
  std::size_t depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : s) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string sanitizeName(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) c = '_';
  }
  return out;
}

// One line of HELP: no control characters, bounded, and backslashes escaped as the text format
// wants (the serializer writes HELP as it is).
std::string sanitizeHelp(std::string_view s) {
  std::string out;
  for (char c : truncateUtf8(std::string(s), kMaxHelp)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += c;
    }
  }
  return out;
}

// The number a stats value stands for; nullopt for strings, null, containers.
std::optional<double> numeric(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (v.is_number_unsigned()) return static_cast<double>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<double>(v.get<std::int64_t>());
  if (v.is_number_float()) return v.get<double>();
  return std::nullopt;
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// A description at `desc` or `attrs.desc`, whichever the scx_stats version wrote.
std::string descOf(const json& obj) {
  if (const json* d = member(obj, "desc"); d != nullptr && d->is_string()) return *d;
  if (const json* a = member(obj, "attrs"); a != nullptr) {
    if (const json* d = member(*a, "desc"); d != nullptr && d->is_string()) return *d;
  }
  return {};
}

bool marked(const json* v) { return v != nullptr && !v->is_null() && *v != false; }

// The struct a field's type mentions ({"struct":"X"} / {"Struct":"X"}, at any depth of
// datum/array/dict), skipping dict keys, descriptions and user attributes.
std::string structRef(const json& data, int depth) {
  if (depth > 6) return {};
  if (data.is_object()) {
    for (const auto& [k, v] : data.items()) {
      if ((k == "struct" || k == "Struct") && v.is_string()) return v.get<std::string>();
    }
    for (const auto& [k, v] : data.items()) {
      if (k == "key" || k == "desc" || k == "attrs" || k == "user") continue;
      if (std::string s = structRef(v, depth + 1); !s.empty()) return s;
    }
  } else if (data.is_array()) {
    for (const auto& v : data) {
      if (std::string s = structRef(v, depth + 1); !s.empty()) return s;
    }
  }
  return {};
}

// The meta struct that describes `resp`: the one sharing most field names, marked top on ties.
const ScxStatsStruct* describing(const json& resp, const ScxStatsMeta& meta) {
  const ScxStatsStruct* best = nullptr;
  std::size_t bestScore = 0;
  for (const auto& [name, st] : meta.structs) {
    std::size_t score = 0;
    for (const auto& [k, v] : resp.items()) score += st.fields.count(k);
    if (score > bestScore || (score == bestScore && score > 0 && st.top && !best->top)) {
      best = &st;
      bestScore = score;
    }
  }
  return best;
}

class Flattener {
 public:
  Flattener(const ScxStatsMeta& meta, const ScxStatsStruct* top, std::size_t max)
      : meta_(meta), top_(top), max_(max) {}

  void add(const std::string& name, const std::optional<std::string>& key, double v,
           const std::string& help, const std::string& path) {
    if (!std::isfinite(v)) return;
    if (name == kScxStatsUpMetric || name == kScxStatsErrorsMetric ||
        name == kScxStatsReadSecondsMetric) {
      return;
    }
    if (!seen_.insert({name, key}).second) return;
    if (out_.samples.size() >= max_) {
      ++out_.dropped;
      return;
    }
    ScxStatsSample s;
    s.name = name;
    if (key) s.labels.push_back({"key", truncateUtf8(*key, kMaxKeyLabel)});
    s.value = v;
    s.help = sanitizeHelp(help.empty() ? "scx_stats " + path : help);
    out_.samples.push_back(std::move(s));
  }

  // What the meta says about `field` of the top struct.
  const ScxStatsField* topField(const std::string& field) const {
    if (top_ == nullptr) return nullptr;
    auto it = top_->fields.find(field);
    return it == top_->fields.end() ? nullptr : &it->second;
  }
  std::string nestedDesc(const ScxStatsField* parent, const std::string& field) const {
    if (parent == nullptr || parent->structName.empty()) return {};
    auto st = meta_.structs.find(parent->structName);
    if (st == meta_.structs.end()) return {};
    auto f = st->second.fields.find(field);
    return f == st->second.fields.end() ? std::string() : f->second.desc;
  }

  ScxStatsSamples take() { return std::move(out_); }

 private:
  const ScxStatsMeta& meta_;
  const ScxStatsStruct* top_;
  std::size_t max_;
  ScxStatsSamples out_;
  std::set<std::pair<std::string, std::optional<std::string>>> seen_;
};

Status deadlineError(std::string_view what, std::size_t got) {
  std::string m = "no " + std::string(what) + " before the deadline";
  if (got > 0) m += " (" + std::to_string(got) + " bytes so far)";
  return deadlineExceeded(std::move(m));
}

// Waits until fd is ready for `events` or the deadline passes.
Status waitFor(int fd, short events, const Clock& clock, MonoTime deadline, std::string_view what,
               std::size_t got) {
  for (;;) {
    Duration left = deadline - clock.now();
    if (left <= Duration::zero()) return deadlineError(what, got);
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms > INT_MAX ? INT_MAX : static_cast<int>(ms));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status(StatusCode::kDataLoss, fromErrno(errno, "poll").message());
    // Timed out: the wait covered what was left (whatever the clock says now).
    if (r == 0) return deadlineError(what, got);
    return Status::ok();  // ready, or hung up / failed: the next send/recv says which
  }
}

}  // namespace

std::string scxStatsRequest(std::string_view target) {
  return json{{"req", "stats"}, {"args", {{"target", std::string(target)}}}}.dump() + "\n";
}

std::string scxStatsMetaRequest() {
  return json{{"req", "stats_meta"}, {"args", json::object()}}.dump() + "\n";
}

Result<json> parseScxStatsResponse(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return invalidArgument("empty response line");
  if (nestingDepth(line) > kMaxDepth) {
    return invalidArgument("response nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalidArgument("response is not JSON: \"" + preview(line) + "\"");
  if (!j.is_object()) {
    return invalidArgument(std::string("response is a JSON ") + j.type_name() + ", not an object");
  }
  const json* err = member(j, "errno");
  if (err == nullptr || !err->is_number_integer()) {
    return invalidArgument("response has no integer \"errno\": \"" + preview(line) + "\"");
  }
  json* args = nullptr;
  if (auto it = j.find("args"); it != j.end() && it->is_object()) args = &*it;
  json* resp = nullptr;
  if (args != nullptr) {
    if (auto it = args->find("resp"); it != args->end()) resp = &*it;
  }
  std::int64_t e = err->get<std::int64_t>();
  if (e != 0) {
    std::string text;
    if (resp != nullptr && resp->is_string()) {
      text = resp->get<std::string>();
    } else if (resp != nullptr) {
      text = resp->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    // anyhow's "{:?}" spans lines; the first one says what went wrong.
    text = truncateUtf8(text.substr(0, text.find('\n')), 200);
    int code = e > 0 && e < 4096 ? static_cast<int>(e) : EINVAL;
    return failedPrecondition(fromErrno(code, "scx_stats server error").message() +
                              (text.empty() ? "" : ": " + text));
  }
  if (resp == nullptr) return invalidArgument("response has no \"args\".\"resp\"");
  return std::move(*resp);  // no copy of what may be megabytes
}

Result<ScxStatsMeta> parseScxStatsMeta(const json& resp) {
  if (!resp.is_object()) {
    return invalidArgument(std::string("stats_meta response is a JSON ") + resp.type_name() +
                           ", not an object");
  }
  ScxStatsMeta meta;
  for (const auto& [name, m] : resp.items()) {
    if (!m.is_object()) continue;
    ScxStatsStruct st;
    const json* attrs = member(m, "attrs");
    st.top = marked(member(m, "top")) || (attrs != nullptr && marked(member(*attrs, "top")));
    st.desc = descOf(m);
    if (const json* fields = member(m, "fields"); fields != nullptr && fields->is_object()) {
      for (const auto& [fname, f] : fields->items()) {
        ScxStatsField field;
        field.desc = descOf(f);
        field.structName = structRef(f, 0);
        st.fields.emplace(fname, std::move(field));
      }
    }
    meta.structs.emplace(name, std::move(st));
  }
  return meta;
}

Result<ScxStatsSamples> flattenScxStats(const json& resp, const ScxStatsMeta& meta,
                                        std::size_t maxSamples) {
  if (!resp.is_object()) {
    return invalidArgument(std::string("stats response is a JSON ") + resp.type_name() +
                           ", not an object");
  }
  Flattener fl(meta, describing(resp, meta), maxSamples);
  for (const auto& [field, v] : resp.items()) {
    std::string base = sanitizeName(field);
    if (base.empty()) continue;
    const ScxStatsField* mf = fl.topField(field);
    std::string desc = mf != nullptr ? mf->desc : std::string();
    if (auto n = numeric(v)) {
      fl.add(kPrefix + base, std::nullopt, *n, desc, field);
      continue;
    }
    if (!v.is_object()) continue;  // strings, null, arrays (cpumasks, sample lists)
    for (const auto& [key, entry] : v.items()) {
      if (auto n = numeric(entry)) {
        fl.add(kPrefix + base, key, *n, desc, field + ".<key>");
        continue;
      }
      if (!entry.is_object()) continue;
      for (const auto& [sub, x] : entry.items()) {
        auto n = numeric(x);
        std::string subName = sanitizeName(sub);
        if (!n || subName.empty()) continue;  // deeper levels are skipped
        fl.add(kPrefix + base + "_" + subName, key, *n, fl.nestedDesc(mf, sub),
               field + ".<key>." + sub);
      }
    }
  }
  return fl.take();
}

std::string_view scxStatsErrorReason(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
    case StatusCode::kUnavailable:
    case StatusCode::kPermissionDenied:
      return "connect";
    case StatusCode::kDeadlineExceeded:
      return "timeout";
    case StatusCode::kDataLoss:
      return "io";
    case StatusCode::kResourceExhausted:
      return "too_large";
    case StatusCode::kFailedPrecondition:
      return "server_error";
    default:
      return "parse";
  }
}

Result<std::string> scxStatsExchange(int fd, std::string_view requestLine, const Clock& clock,
                                     MonoTime deadline, std::size_t maxBytes, bool* trailing) {
  if (trailing != nullptr) *trailing = false;
  std::size_t off = 0;
  while (off < requestLine.size()) {
    ssize_t n =
        ::send(fd, requestLine.data() + off, requestLine.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SK_RETURN_IF_ERROR(waitFor(fd, POLLOUT, clock, deadline, "room to send the request", 0));
    } else {
      return Status(StatusCode::kDataLoss, fromErrno(errno, "sending the request").message());
    }
  }
  std::string buf;
  for (;;) {
    std::size_t old = buf.size();
    buf.resize(old + kReadChunk);
    ssize_t n = ::recv(fd, buf.data() + old, kReadChunk, MSG_DONTWAIT);
    buf.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n > 0) {
      std::size_t nl = buf.find('\n', old);
      std::size_t lineLen = nl == std::string::npos ? buf.size() : nl;
      if (lineLen > maxBytes) {
        return resourceExhausted("response line is longer than " + std::to_string(maxBytes) +
                                 " bytes");
      }
      if (nl == std::string::npos) continue;
      if (trailing != nullptr) *trailing = nl + 1 < buf.size();
      buf.resize(nl);
      return buf;
    }
    if (n == 0) {
      return Status(StatusCode::kDataLoss,
                    buf.empty() ? std::string("connection closed before a response")
                                : "connection closed after " + std::to_string(buf.size()) +
                                      " bytes, before the end of the response line (\"" +
                                      preview(buf) + "\")");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status(StatusCode::kDataLoss, fromErrno(errno, "reading the response").message());
    }
    SK_RETURN_IF_ERROR(waitFor(fd, POLLIN, clock, deadline, "complete response line", buf.size()));
  }
}

std::string imageDigestOf(std::string_view image) {
  std::size_t at = image.rfind('@');
  if (at == std::string_view::npos || image.find(':', at) == std::string_view::npos) return {};
  return std::string(image.substr(at + 1));
}

UnixScxStatsTransport::UnixScxStatsTransport(const Filesystem& fs, const Clock& clock,
                                             ScxStatsOptions options)
    : fs_(fs), clock_(clock), options_(std::move(options)) {}

UnixScxStatsTransport::~UnixScxStatsTransport() { disconnect(); }

std::optional<ScxSocketFile> UnixScxStatsTransport::statSocket() const {
  struct stat st {};
  if (::stat(fs_.resolve(options_.socketPath).c_str(), &st) != 0) return std::nullopt;
  if (!S_ISSOCK(st.st_mode)) return std::nullopt;
  return ScxSocketFile{static_cast<std::uint64_t>(st.st_dev),
                       static_cast<std::uint64_t>(st.st_ino)};
}

void UnixScxStatsTransport::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status UnixScxStatsTransport::connect(MonoTime deadline) {
  disconnect();
  std::string path = fs_.resolve(options_.socketPath);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return unavailable("socket path " + path + " is longer than " +
                       std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return unavailable(fromErrno(errno, "socket(AF_UNIX)").message());
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      Status w = waitFor(fd, POLLOUT, clock_, deadline, "connection", 0);
      if (!w.isOk()) {
        ::close(fd);
        return w.withContext("connecting to " + path);
      }
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
  }
  if (err != 0) {
    ::close(fd);
    std::string m = fromErrno(err, "connecting to " + path).message();
    // Nobody listens: no file, or a socket its server left behind.
    if (err == ENOENT || err == ECONNREFUSED) return notFound(std::move(m));
    return unavailable(std::move(m));
  }
  fd_ = fd;
  return Status::ok();
}

Result<std::string> UnixScxStatsTransport::exchange(std::string_view requestLine,
                                                    MonoTime deadline) {
  bool trailing = false;
  auto line =
      scxStatsExchange(fd_, requestLine, clock_, deadline, options_.maxResponseBytes, &trailing);
  // One request, one line: anything else means the stream is out of step.
  if (!line.isOk() || trailing) disconnect();
  if (!line.isOk()) return line.status().withContext(options_.socketPath);
  return line;
}

Result<json> UnixScxStatsTransport::call(std::string_view requestLine) {
  MonoTime deadline = clock_.now() + options_.timeout;
  bool reused = fd_ >= 0;
  if (!reused) SK_RETURN_IF_ERROR(connect(deadline));
  auto line = exchange(requestLine, deadline);
  if (!line.isOk() && reused && line.status().code() == StatusCode::kDataLoss) {
    // The server closed the connection while it was idle (say it restarted): once more, anew.
    SK_RETURN_IF_ERROR(connect(deadline));
    line = exchange(requestLine, deadline);
  }
  if (!line.isOk()) return line.status();
  auto resp = parseScxStatsResponse(*line);
  if (!resp.isOk()) {
    disconnect();
    return resp.status().withContext(options_.socketPath);
  }
  return resp;
}

}  // namespace schedkit::agent
