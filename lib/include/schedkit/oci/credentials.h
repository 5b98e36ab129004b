#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"

namespace schedkit::oci {

// Registry credentials from a Docker config.json or a Kubernetes image pull secret.
struct Credential {
  std::string username;
  std::string password;
  std::string identityToken;  // OAuth2 refresh token ("identitytoken")
  std::string registryToken;  // a bearer token used as is ("registrytoken")
  bool empty() const {
    return username.empty() && password.empty() && identityToken.empty() && registryToken.empty();
  }
  friend bool operator==(const Credential&, const Credential&) = default;
};

// A set of `auths` entries, possibly merged from several secrets, matched like the kubelet does:
// keys may carry a scheme ("https://"), a path ("/v1/", "/v2/", or a repository prefix) and
// a wildcard host ("*.example.com"); docker.io, index.docker.io and registry-1.docker.io are one
// registry. The most specific matching key wins (exact host before wildcard, longest path);
// among equals, the one added first.
class Keychain {
 public:
  // Adds the `auths` of a Docker config.json (also accepts the legacy .dockercfg shape, the
  // auths map itself). Each entry has "auth" (base64 user:pass) or "username"/"password", and
  // optionally "identitytoken"/"registrytoken".
  Status addDockerConfigJson(std::string_view json);
  // Adds the payload of a `kubernetes.io/dockerconfigjson` (key ".dockerconfigjson") or
  // `kubernetes.io/dockercfg` (key ".dockercfg") secret. `data` holds the secret's `data`
  // values, still base64-encoded as the API returns them.
  Status addPullSecretData(const std::map<std::string, std::string>& data);
  void add(std::string key, Credential cred);

  // Credentials for repository `repo` on `registry` (host[:port] as in a Reference).
  std::optional<Credential> lookup(std::string_view registry, std::string_view repo) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string host;  // lower-case, may start with "*."
    std::string path;  // repository prefix, no slashes at either end; empty = any
    Credential cred;
    std::size_t order;
  };
  std::vector<Entry> entries_;
};

std::string base64Encode(std::string_view in);
// Standard alphabet; padding optional; whitespace ignored. kInvalidArgument on bad input.
Result<std::string> base64Decode(std::string_view in);

}  // namespace schedkit::oci
