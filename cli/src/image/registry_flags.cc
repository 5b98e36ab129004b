#include "image/registry_flags.h"

#include <fstream>
#include <sstream>

namespace schedkit::cli {

oci::RegistryClientOptions registryOptions(const RegistryFlags& f, const oci::Reference& ref) {
  oci::RegistryClientOptions o;
  o.userAgent = "schedkitctl/0.1";
  if (ref.isLayout()) return o;
  oci::RegistryHostOptions& h = o.hosts[ref.registry];
  h.plainHttp = f.insecure;
  if (!f.ca.empty()) h.tls.caFile = f.ca;
  return o;
}

Result<oci::Keychain> registryKeychain(const RegistryFlags& f, const oci::Reference& ref,
                                       const CliEnv& env) {
  oci::Keychain k;
  if (ref.isLayout()) return k;
  if (!f.username.empty() || !f.password.empty() || f.passwordStdin) {
    if (f.username.empty()) return invalidArgument("--password needs --username");
    oci::Credential c;
    c.username = f.username;
    c.password = f.password;
    if (f.passwordStdin) {
      if (!f.password.empty())
        return invalidArgument("--password and --password-stdin exclude each other");
      c.password = env.readStdin ? env.readStdin() : "";
      while (!c.password.empty() && (c.password.back() == '\n' || c.password.back() == '\r')) {
        c.password.pop_back();
      }
    }
    if (c.password.empty()) return invalidArgument("--username " + f.username + " has no password");
    k.add(ref.registry, c);
  }
  std::string path = f.dockerConfig;
  bool explicitPath = !path.empty();
  if (!explicitPath && env.getenv) {
    std::string dc = env.getenv("DOCKER_CONFIG");
    std::string home = env.getenv("HOME");
    if (!dc.empty()) {
      path = dc + "/config.json";
    } else if (!home.empty()) {
      path = home + "/.docker/config.json";
    }
  }
  if (path.empty()) return k;
  std::ifstream in(path);
  if (!in) {
    if (explicitPath) return invalidArgument("--docker-config " + path + " cannot be read");
    return k;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Status st = k.addDockerConfigJson(ss.str());
  if (!st.isOk()) {
    if (explicitPath) return st.withContext("--docker-config " + path);
    return k;  // a broken default config must not stop anonymous pulls
  }
  return k;
}

}  // namespace schedkit::cli
