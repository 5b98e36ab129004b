#pragma once

// Where the API server is and who we are to it: in-cluster (service account) or a kubeconfig.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "schedkit/common/status.h"
#include "schedkit/net/http.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::kube {

// File paths in a Config are paths this process opens (already resolved under --host-root).
struct Config {
  std::string server;  // "https://host:port", no trailing slash
  net::TlsConfig tls;
  std::string token;      // a fixed bearer token
  std::string tokenFile;  // a bearer token re-read while running (projected service-account tokens)
  std::string defaultNamespace = "default";
  std::string userAgent = "schedkit";
  std::string source;  // where this came from, for logs: "in-cluster", "kubeconfig FILE context C"
};

// Reads an environment variable (injected so tests need no real environment).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnv();

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the service-account token,
// CA and namespace under kServiceAccountDir (through `fs`, so --host-root applies). The token is
// referenced as a file, so kubelet's rotation of projected tokens is picked up.
// kFailedPrecondition when not running in a pod.
Result<Config> inClusterConfig(const Filesystem& fs, const EnvLookup& env);

// A kubeconfig: the named context (empty: current-context) with its cluster and user.
// Supported: server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name;
// client-certificate(-data), client-key(-data), token, tokenFile; the context's namespace.
// Relative file paths are relative to `dir` (the kubeconfig's directory). exec and auth-provider
// plugins and basic auth are kUnimplemented.
Result<Config> parseKubeconfig(std::string_view yaml, std::string_view dir,
                               std::string_view context = {});
Result<Config> loadKubeconfig(const Filesystem& fs, const std::string& path,
                              std::string_view context = {});

// What kubectl would use: `path` if given, else the first file in $KUBECONFIG, else in-cluster
// when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
Result<Config> loadConfig(const Filesystem& fs, const EnvLookup& env, const std::string& path = {},
                          std::string_view context = {});

// Standard base64 (RFC 4648, padding optional, whitespace ignored), as kubeconfig *-data uses.
Result<std::string> base64Decode(std::string_view in);

}  // namespace schedkit::kube
