#include "schedkit/oci/reference.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace schedkit::oci {

namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool isAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
bool validComponent(std::string_view c) {
  if (c.empty() || !isAlnumLower(c.front()) || !isAlnumLower(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (isAlnumLower(ch)) continue;
    if (ch == '.' || ch == '-') {
      if (ch == '.' && !isAlnumLower(c[i + 1])) return false;
      continue;
    }
    if (ch == '_') {
      if (c[i + 1] == '_' && i + 2 < c.size() && c[i + 2] == '_') return false;
      continue;
    }
    return false;
  }
  return true;
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool validHost(std::string_view h) {
  if (h.empty()) return false;
  if (h.front() == '[') {  // [ipv6]:port
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    h = rest.empty() ? std::string_view() : rest.substr(1);
    return h.empty() || std::all_of(h.begin(), h.end(), ::isdigit);
  }
  auto colon = h.find(':');
  std::string_view name = h.substr(0, colon);
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  }
  if (colon != std::string_view::npos) {
    std::string_view port = h.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) {
      return false;
    }
  }
  return true;
}

// Docker's rule: the first component is a registry when it has a '.' or ':' or is "localhost".
bool looksLikeRegistry(std::string_view first) {
  return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost" || (!first.empty() && first.front() == '[');
}

Result<Reference> parseLayout(std::string_view s) {
  Reference r;
  std::string_view rest = s.substr(4);  // after "oci:"
  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    SK_ASSIGN_OR_RETURN(r.digest, Digest::parse(rest.substr(at + 1)));
    rest = rest.substr(0, at);
  }
  // oci:/path:tag — the tag is what follows the last ':' after the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(r.tag))
      return invalidArgument("oci layout reference: invalid tag \"" + r.tag + "\"");
  }
  if (rest.empty())
    return invalidArgument("oci layout reference \"" + std::string(s) + "\" has no path");
  r.layoutPath = std::string(rest);
  return r;
}

}  // namespace

std::string Reference::tagOrDigest() const {
  if (pinned()) return digest.toString();
  return tag.empty() ? "latest" : tag;
}

std::string Reference::apiHost() const {
  return registry == kDockerHub ? std::string("registry-1.docker.io") : registry;
}

std::string Reference::repositoryName() const {
  if (isLayout()) return "oci:" + layoutPath;
  return registry + "/" + repository;
}

std::string Reference::toString() const {
  std::string out = repositoryName();
  if (!tag.empty()) out += ":" + tag;
  if (pinned()) out += "@" + digest.toString();
  return out;
}

Reference Reference::withDigest(const Digest& d) const {
  Reference r = *this;
  r.tag.clear();
  r.digest = d;
  return r;
}

Result<Reference> parseReference(std::string_view s) {
  if (s.size() > 4096) return invalidArgument("image reference is longer than 4096 characters");
  if (s.rfind("oci:", 0) == 0) return parseLayout(s);
  if (s.empty()) return invalidArgument("empty image reference");
  auto bad = [&](std::string why) {
    return invalidArgument("invalid image reference \"" + std::string(s) + "\": " + why);
  };
  if (s.find("://") != std::string_view::npos) return bad("a reference has no URL scheme");
  Reference r;
  std::string_view rest = s;
  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d.isOk()) return bad(d.status().message());
    r.digest = *d;
    rest = rest.substr(0, at);
  }
  // The tag follows the last ':' after the last '/' (a ':' before it is a registry port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(r.tag)) return bad("invalid tag \"" + r.tag + "\"");
  }
  auto first = rest.find('/');
  std::string_view name = rest;
  if (first != std::string_view::npos && looksLikeRegistry(rest.substr(0, first))) {
    std::string_view host = rest.substr(0, first);
    if (!validHost(host)) return bad("invalid registry host \"" + std::string(host) + "\"");
    r.registry = std::string(host);
    name = rest.substr(first + 1);
  } else {
    r.registry = std::string(kDockerHub);
  }
  std::string lowerReg = r.registry;
  std::transform(lowerReg.begin(), lowerReg.end(), lowerReg.begin(), ::tolower);
  if (lowerReg == "index.docker.io" || lowerReg == "registry-1.docker.io") {
    r.registry = std::string(kDockerHub);
  }
  if (name.empty()) return bad("no repository name");
  std::size_t pos = 0;
  while (pos <= name.size()) {
    auto next = name.find('/', pos);
    if (next == std::string_view::npos) next = name.size();
    if (!validComponent(name.substr(pos, next - pos))) {
      return bad("repository \"" + std::string(name) +
                 "\" must be lowercase components of [a-z0-9._-] separated by '/'");
    }
    pos = next + 1;
  }
  r.repository = std::string(name);
  if (r.registry == kDockerHub && r.repository.find('/') == std::string::npos) {
    r.repository = "library/" + r.repository;
  }
  if (r.repositoryName().size() > 255) return bad("repository name is longer than 255 characters");
  if (r.tag.empty() && !r.pinned()) r.tag = "latest";
  return r;
}

bool isLoopbackHost(std::string_view registry) {
  std::string_view host = registry;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    host = host.substr(1, close - 1);
    return host == "::1";
  }
  host = host.substr(0, host.find(':'));
  if (host == "localhost") return true;
  in_addr a{};
  std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

}  // namespace schedkit::oci
