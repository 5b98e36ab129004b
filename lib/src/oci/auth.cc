#include "schedkit/oci/auth.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace schedkit::oci {

namespace {

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ::tolower);
  return out;
}

void skipSpaces(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string readToken(std::string_view s, std::size_t& i) {
  std::size_t start = i;
  while (i < s.size() && isTokenChar(s[i])) ++i;
  return std::string(s.substr(start, i - start));
}

}  // namespace

std::vector<AuthChallenge> parseWwwAuthenticate(std::string_view s) {
  std::vector<AuthChallenge> out;
  std::size_t i = 0;
  while (i < s.size()) {
    skipSpaces(s, i);
    while (i < s.size() && s[i] == ',') {
      ++i;
      skipSpaces(s, i);
    }
    std::string scheme = readToken(s, i);
    if (scheme.empty()) {
      ++i;  // skip junk
      continue;
    }
    AuthChallenge ch;
    ch.scheme = lower(scheme);
    // auth-params: name=value or name="quoted", comma separated. A name followed by a space and
    // no '=' starts the next challenge.
    for (;;) {
      skipSpaces(s, i);
      std::size_t save = i;
      std::string name = readToken(s, i);
      skipSpaces(s, i);
      if (name.empty() || i >= s.size() || s[i] != '=') {
        i = save;
        break;
      }
      ++i;
      skipSpaces(s, i);
      std::string value;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value += s[i++];
        }
        if (i < s.size()) ++i;  // closing quote
      } else {
        // Lenient: registries put URLs here unquoted, which are not RFC 7230 tokens.
        while (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\t') value += s[i++];
      }
      ch.params[lower(name)] = value;
      skipSpaces(s, i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
    out.push_back(std::move(ch));
  }
  return out;
}

Result<TokenResponse> parseTokenResponse(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalidArgument("token response is not a JSON object");
  TokenResponse t;
  try {
    if (auto it = j.find("token"); it != j.end() && it->is_string())
      t.token = it->get<std::string>();
    if (t.token.empty()) {
      if (auto it = j.find("access_token"); it != j.end() && it->is_string()) {
        t.token = it->get<std::string>();
      }
    }
    if (auto it = j.find("expires_in"); it != j.end() && it->is_number_integer()) {
      t.expiresIn = it->get<long long>();
    }
    if (auto it = j.find("refresh_token"); it != j.end() && it->is_string()) {
      t.refreshToken = it->get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    return invalidArgument(std::string("token response: ") + e.what());
  }
  if (t.token.empty()) return invalidArgument("token response has neither token nor access_token");
  if (t.expiresIn < 1) t.expiresIn = 60;  // absent or nonsense: the spec's default
  return t;
}

}  // namespace schedkit::oci
