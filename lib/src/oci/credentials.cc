#include "schedkit/oci/credentials.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace schedkit::oci {

using nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ::tolower);
  return out;
}

std::string canonicalHost(std::string host) {
  host = lower(host);
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

// "https://index.docker.io/v1/" → host "docker.io", path ""; "reg:5000/team" → "reg:5000", "team".
void splitKey(std::string_view key, std::string& host, std::string& path) {
  auto scheme = key.find("://");
  if (scheme != std::string_view::npos) key = key.substr(scheme + 3);
  auto slash = key.find('/');
  host = canonicalHost(std::string(key.substr(0, slash)));
  std::string p = slash == std::string_view::npos ? "" : std::string(key.substr(slash + 1));
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == "v1" || p == "v2") p.clear();
  path = p;
}

bool hostMatches(const std::string& pattern, const std::string& host) {
  if (pattern.rfind("*.", 0) != 0) return pattern == host;
  // A wildcard matches exactly one label, and ports must agree (as the kubelet does).
  std::string suffix = pattern.substr(1);  // ".example.com[:port]"
  if (host.size() <= suffix.size()) return false;
  if (host.compare(host.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  std::string label = host.substr(0, host.size() - suffix.size());
  return !label.empty() && label.find('.') == std::string::npos &&
         label.find(':') == std::string::npos;
}

bool pathMatches(const std::string& prefix, std::string_view repo) {
  if (prefix.empty()) return true;
  if (repo.size() < prefix.size() || repo.compare(0, prefix.size(), prefix) != 0) return false;
  return repo.size() == prefix.size() || repo[prefix.size()] == '/';
}

}  // namespace

std::string base64Encode(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    bool two = i + 1 < in.size();
    if (two) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64Decode(std::string_view in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      padding = true;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return invalidArgument("invalid base64");
    }
    if (padding) return invalidArgument("invalid base64: data after padding");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return invalidArgument("invalid base64: truncated");
  return out;
}

void Keychain::add(std::string key, Credential cred) {
  Entry e;
  splitKey(key, e.host, e.path);
  e.cred = std::move(cred);
  e.order = entries_.size();
  entries_.push_back(std::move(e));
}

Status Keychain::addDockerConfigJson(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return invalidArgument("docker config is not a JSON object");
  }
  try {
    const json* auths = &j;
    if (auto it = j.find("auths"); it != j.end()) auths = &*it;
    if (!auths->is_object()) return invalidArgument("docker config: auths is not an object");
    std::vector<std::pair<std::string, Credential>> found;
    for (auto& [key, v] : auths->items()) {
      if (!v.is_object())
        return invalidArgument("docker config: auths[\"" + key + "\"] is not an object");
      Credential c;
      if (auto a = v.find("auth");
          a != v.end() && a->is_string() && !a->get<std::string>().empty()) {
        auto dec = base64Decode(a->get<std::string>());
        if (!dec.isOk())
          return invalidArgument("docker config: auths[\"" + key + "\"].auth is not base64");
        auto colon = dec->find(':');
        if (colon == std::string::npos) {
          return invalidArgument("docker config: auths[\"" + key + "\"].auth is not user:password");
        }
        c.username = dec->substr(0, colon);
        c.password = dec->substr(colon + 1);
      }
      auto field = [&](const char* name, std::string& out) {
        if (auto f = v.find(name);
            f != v.end() && f->is_string() && !f->get<std::string>().empty()) {
          out = f->get<std::string>();
        }
      };
      if (c.username.empty()) field("username", c.username);
      if (c.password.empty()) field("password", c.password);
      field("identitytoken", c.identityToken);
      field("registrytoken", c.registryToken);
      found.emplace_back(key, std::move(c));
    }
    for (auto& [k, c] : found) add(k, std::move(c));
  } catch (const json::exception& e) {
    return invalidArgument(std::string("docker config: ") + e.what());
  }
  return Status::ok();
}

Status Keychain::addPullSecretData(const std::map<std::string, std::string>& data) {
  for (const char* key : {".dockerconfigjson", ".dockercfg"}) {
    auto it = data.find(key);
    if (it == data.end()) continue;
    auto dec = base64Decode(it->second);
    if (!dec.isOk()) return invalidArgument(std::string("pull secret: ") + key + " is not base64");
    return addDockerConfigJson(*dec).withContext(std::string("pull secret ") + key);
  }
  return invalidArgument("pull secret has neither .dockerconfigjson nor .dockercfg");
}

std::optional<Credential> Keychain::lookup(std::string_view registry, std::string_view repo) const {
  std::string host = canonicalHost(std::string(registry));
  const Entry* best = nullptr;
  auto rank = [](const Entry& e) {
    // exact host beats wildcard; then longer path.
    return std::make_pair(e.host.rfind("*.", 0) == 0 ? 0 : 1, e.path.size());
  };
  for (const auto& e : entries_) {
    if (!hostMatches(e.host, host) || !pathMatches(e.path, repo)) continue;
    if (best == nullptr || rank(e) > rank(*best)) best = &e;
  }
  if (best == nullptr) return std::nullopt;
  return best->cred;
}

}  // namespace schedkit::oci
