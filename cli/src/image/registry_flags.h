#pragma once

#include <functional>
#include <string>

#include "schedkit/common/status.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/reference.h"
#include "schedkit/oci/registry.h"

namespace schedkit::cli {

// How to reach and log in to the registry of one reference (push, inspect, pull).
struct RegistryFlags {
  bool insecure = false;  // plain HTTP to this registry (loopback registries always may)
  std::string ca;         // a CA bundle to trust for it
  std::string username;   // with password or passwordStdin
  std::string password;
  bool passwordStdin = false;
  std::string dockerConfig;  // a Docker config.json; default $DOCKER_CONFIG/config.json or
                             // ~/.docker/config.json when present
};

// The process environment as the CLI sees it; injected so tests control $HOME and stdin.
struct CliEnv {
  std::function<std::string(const std::string& name)> getenv;  // "" when unset
  std::function<std::string()> readStdin;                      // all of stdin
};

// Registry options for `ref`'s host: TLS CA, plain HTTP.
oci::RegistryClientOptions registryOptions(const RegistryFlags& f, const oci::Reference& ref);

// Credentials for `ref`: --username/--password (or stdin) first, then the Docker config given or
// found. An explicit --docker-config that cannot be read is an error; a default one is skipped.
Result<oci::Keychain> registryKeychain(const RegistryFlags& f, const oci::Reference& ref,
                                       const CliEnv& env);

}  // namespace schedkit::cli
