#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"

namespace schedkit::oci {

// One challenge of a WWW-Authenticate header (RFC 7235): `Bearer realm="…",service="…",
// scope="…"` or `Basic realm="…"`. Scheme lower-cased; parameter names lower-cased.
struct AuthChallenge {
  std::string scheme;  // "bearer", "basic"
  std::map<std::string, std::string> params;
  std::string param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  }
};

// Parses every challenge in a header value (several may be comma-separated). Malformed parts are
// skipped; an empty result means nothing usable.
std::vector<AuthChallenge> parseWwwAuthenticate(std::string_view header);

// A token endpoint's answer (Docker token spec): "token" or "access_token", "expires_in"
// (seconds, default 60), "refresh_token".
struct TokenResponse {
  std::string token;
  long long expiresIn = 60;
  std::string refreshToken;
};
Result<TokenResponse> parseTokenResponse(std::string_view body);

}  // namespace schedkit::oci
