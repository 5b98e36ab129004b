#include "schedkit/net/http.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace schedkit::net {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int defaultPort(std::string_view scheme) {
  if (scheme == "https") return 443;
  if (scheme == "http") return 80;
  return 0;
}

bool isSchemeChar(char c, bool first) {
  if (std::isalpha(static_cast<unsigned char>(c))) return true;
  if (first) return false;
  return std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// The length of "scheme:" at the start of s, or 0 when s has no scheme.
std::size_t schemeLength(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':') return i > 0 ? i + 1 : 0;
    if (!isSchemeChar(s[i], i == 0)) return 0;
  }
  return 0;
}

// RFC 3986 5.2.4: removes "." and ".." segments.
std::string removeDotSegments(std::string_view path) {
  std::vector<std::string_view> out;
  bool absolute = !path.empty() && path.front() == '/';
  bool trailing = false;
  std::size_t i = absolute ? 1 : 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    bool last = j == path.size();
    if (seg == ".") {
      trailing = last;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = last;
    } else {
      out.push_back(seg);
      trailing = false;
    }
    i = j + 1;
  }
  std::string r = absolute ? "/" : "";
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (k > 0) r += '/';
    r += out[k];
  }
  if (trailing && (r.empty() || r.back() != '/')) r += '/';
  return r;
}

}  // namespace

// --- Headers ---------------------------------------------------------------------------------

void Headers::set(std::string_view name, std::string value) {
  std::string key = lower(name);
  h_.erase(key);
  h_.emplace(std::move(key), std::move(value));
}

void Headers::add(std::string_view name, std::string value) {
  h_.emplace(lower(name), std::move(value));
}

std::optional<std::string> Headers::get(std::string_view name) const {
  auto it = h_.find(lower(name));
  if (it == h_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Headers::getAll(std::string_view name) const {
  std::vector<std::string> out;
  auto [b, e] = h_.equal_range(lower(name));
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

void Headers::remove(std::string_view name) { h_.erase(lower(name)); }

// --- CancelToken -----------------------------------------------------------------------------

void CancelToken::cancel() {
  std::map<std::uint64_t, std::function<void()>> cbs;
  {
    std::lock_guard lk(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    cbs.swap(callbacks_);
  }
  for (auto& [id, fn] : cbs) fn();
}

bool CancelToken::cancelled() const {
  std::lock_guard lk(mu_);
  return cancelled_;
}

std::uint64_t CancelToken::onCancel(std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    if (!cancelled_) {
      std::uint64_t id = next_id_++;
      callbacks_.emplace(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void CancelToken::removeCallback(std::uint64_t id) {
  std::lock_guard lk(mu_);
  callbacks_.erase(id);
}

// --- URLs ------------------------------------------------------------------------------------

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string Url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::string Url::target() const {
  std::string t = path.empty() ? "/" : path;
  if (!query.empty()) t += "?" + query;
  return t;
}

Result<Url> parseUrl(std::string_view url) {
  std::size_t sl = schemeLength(url);
  if (sl == 0 || url.substr(sl, 2) != "//") {
    return invalidArgument("URL \"" + std::string(url) + "\" is not absolute (scheme://host)");
  }
  Url u;
  u.scheme = lower(url.substr(0, sl - 1));
  std::string_view rest = url.substr(sl + 2);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return invalidArgument("URL \"" + std::string(url) + "\": user info is not supported");
  }
  std::string_view port_str;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("URL \"" + std::string(url) + "\": unterminated IPv6 address");
    }
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return invalidArgument("URL \"" + std::string(url) + "\": junk after IPv6 address");
      }
      port_str = after.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      u.host = std::string(authority.substr(0, colon));
      port_str = authority.substr(colon + 1);
    } else {
      u.host = std::string(authority);
    }
    u.host = lower(u.host);
  }
  if (u.host.empty()) return invalidArgument("URL \"" + std::string(url) + "\" has no host");
  if (!port_str.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), port);
    if (ec != std::errc() || p != port_str.data() + port_str.size() || port <= 0 || port > 65535) {
      return invalidArgument("URL \"" + std::string(url) + "\": bad port \"" +
                             std::string(port_str) + "\"");
    }
    u.port = port;
  } else {
    u.port = defaultPort(u.scheme);
    if (u.port == 0) {
      return invalidArgument("URL \"" + std::string(url) + "\": no port and no default for " +
                             u.scheme);
    }
  }
  std::size_t q = tail.find('?');
  u.path = std::string(tail.substr(0, q));
  if (q != std::string_view::npos) u.query = std::string(tail.substr(q + 1));
  if (u.path.empty()) u.path = "/";
  return u;
}

std::string resolveUrl(std::string_view base, std::string_view ref) {
  if (ref.empty()) return std::string(base);
  if (schemeLength(ref) != 0) return std::string(ref);  // absolute
  auto b = parseUrl(base);
  if (!b.isOk()) return std::string(ref);
  std::string bscheme = b->scheme;
  if (ref.substr(0, 2) == "//") return bscheme + ":" + std::string(ref);  // network-path
  // Keep the base's authority as written (default ports stay implicit).
  std::string_view after_scheme = base.substr(schemeLength(base) + 2);
  std::string authority(after_scheme.substr(0, after_scheme.find_first_of("/?#")));
  std::string prefix = bscheme + "://" + authority;

  std::string_view ref_frag;
  if (auto h = ref.find('#'); h != std::string_view::npos) {
    ref_frag = ref.substr(h);
    ref = ref.substr(0, h);
  }
  std::string_view rpath = ref.substr(0, ref.find('?'));
  std::string_view rquery =
      ref.find('?') == std::string_view::npos ? std::string_view{} : ref.substr(ref.find('?'));
  std::string path;
  std::string query;
  if (rpath.empty()) {
    path = b->path;
    query = rquery.empty() ? (b->query.empty() ? "" : "?" + b->query) : std::string(rquery);
  } else {
    if (rpath.front() == '/') {
      path = removeDotSegments(rpath);
    } else {
      std::string merged = b->path.substr(0, b->path.rfind('/') + 1);
      merged += rpath;
      path = removeDotSegments(merged);
    }
    query = std::string(rquery);
  }
  return prefix + path + query + std::string(ref_frag);
}

}  // namespace schedkit::net
