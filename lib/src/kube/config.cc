// Kubeconfig and in-cluster configuration. yaml-cpp stays an implementation detail here.
#include "schedkit/kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

namespace schedkit::kube {

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding) return invalidArgument("not base64");
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return invalidArgument("not base64 (truncated)");
  return out;
}

namespace {

std::string joinDir(std::string_view dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return joinPath(dir, path);
}

std::string str(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

bool boolean(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return false;
  std::string s = v.as<std::string>();
  return s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on";
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts) and returns its
// `field` map (cluster, user, context).
Result<YAML::Node> named(const YAML::Node& root, const char* list, const char* field,
                         const std::string& name) {
  const YAML::Node items = root[list];
  if (items && items.IsSequence()) {
    for (const auto& item : items) {
      if (item.IsMap() && str(item, "name") == name) {
        YAML::Node f = item[field];
        if (!f || f.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!f.IsMap()) return invalidArgument(std::string(list) + " \"" + name + "\": not a map");
        return f;
      }
    }
  }
  return notFound(std::string("no ") + field + " named \"" + name + "\" in " + list);
}

Status decodeInto(const YAML::Node& n, const char* key, std::string& out) {
  std::string data = str(n, key);
  if (data.empty()) return Status::ok();
  auto d = base64Decode(data);
  if (!d.isOk()) return invalidArgument(std::string(key) + ": " + d.status().message());
  out = std::move(d).value();
  return Status::ok();
}

std::string trimServer(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<Config> parseKubeconfig(std::string_view yaml, std::string_view dir,
                               std::string_view context) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return invalidArgument(std::string("kubeconfig is not YAML: ") + e.what());
  }
  if (!root.IsMap()) return invalidArgument("kubeconfig is not a map");
  try {
    std::string ctx_name(context);
    if (ctx_name.empty()) ctx_name = str(root, "current-context");
    if (ctx_name.empty()) return failedPrecondition("kubeconfig has no current-context");
    SK_ASSIGN_OR_RETURN(YAML::Node ctx, named(root, "contexts", "context", ctx_name));
    std::string cluster_name = str(ctx, "cluster");
    std::string user_name = str(ctx, "user");
    SK_ASSIGN_OR_RETURN(YAML::Node cluster, named(root, "clusters", "cluster", cluster_name));

    Config c;
    c.source = "kubeconfig context " + ctx_name;
    c.server = trimServer(str(cluster, "server"));
    if (c.server.empty()) return invalidArgument("cluster \"" + cluster_name + "\" has no server");
    if (!net::parseUrl(c.server).isOk()) {
      return invalidArgument("cluster \"" + cluster_name + "\": bad server " + c.server);
    }
    if (!str(cluster, "proxy-url").empty()) {
      return unimplemented("cluster \"" + cluster_name + "\": proxy-url is not supported");
    }
    SK_RETURN_IF_ERROR(decodeInto(cluster, "certificate-authority-data", c.tls.caPem)
                           .withContext("cluster \"" + cluster_name + "\""));
    if (c.tls.caPem.empty()) c.tls.caFile = joinDir(dir, str(cluster, "certificate-authority"));
    c.tls.insecureSkipVerify = boolean(cluster, "insecure-skip-tls-verify");
    c.tls.serverName = str(cluster, "tls-server-name");
    if (!str(ctx, "namespace").empty()) c.defaultNamespace = str(ctx, "namespace");

    if (!user_name.empty()) {
      SK_ASSIGN_OR_RETURN(YAML::Node user, named(root, "users", "user", user_name));
      std::string where = "user \"" + user_name + "\"";
      if (user["exec"] || user["auth-provider"]) {
        return unimplemented(where +
                             ": exec and auth-provider credential plugins are not "
                             "supported; use a client certificate or a token");
      }
      if (!str(user, "username").empty() || !str(user, "password").empty()) {
        return unimplemented(where + ": basic authentication is not supported");
      }
      SK_RETURN_IF_ERROR(
          decodeInto(user, "client-certificate-data", c.tls.clientCertPem).withContext(where));
      SK_RETURN_IF_ERROR(
          decodeInto(user, "client-key-data", c.tls.clientKeyPem).withContext(where));
      if (c.tls.clientCertPem.empty()) {
        c.tls.clientCertFile = joinDir(dir, str(user, "client-certificate"));
      }
      if (c.tls.clientKeyPem.empty()) c.tls.clientKeyFile = joinDir(dir, str(user, "client-key"));
      c.token = str(user, "token");
      if (c.token.empty()) c.tokenFile = joinDir(dir, str(user, "tokenFile"));
    }
    return c;
  } catch (const YAML::Exception& e) {
    return invalidArgument(std::string("kubeconfig: ") + e.what());
  }
}

Result<Config> loadKubeconfig(const Filesystem& fs, const std::string& path,
                              std::string_view context) {
  SK_ASSIGN_OR_RETURN(std::string yaml, fs.readFile(path, 4u << 20));
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (dir.empty() && !path.empty() && path.front() == '/') dir = "/";
  auto c = parseKubeconfig(yaml, fs.resolve(dir.empty() ? "." : dir), context);
  if (!c.isOk()) return c.status().withContext(path);
  c->source = "kubeconfig " + path + " " + c->source.substr(std::string("kubeconfig ").size());
  return c;
}

Result<Config> inClusterConfig(const Filesystem& fs, const EnvLookup& env) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return failedPrecondition(
        "not running in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are unset");
  }
  const std::string dir = kServiceAccountDir;
  const std::string token = dir + "/token";
  const std::string ca = dir + "/ca.crt";
  if (!fs.exists(token))
    return failedPrecondition("in-cluster: no service-account token at " + token);
  if (!fs.exists(ca)) return failedPrecondition("in-cluster: no CA bundle at " + ca);
  Config c;
  std::string h = host->find(':') != std::string::npos ? "[" + *host + "]" : *host;
  c.server = "https://" + h + ":" + *port;
  c.tls.caFile = fs.resolve(ca);
  c.tokenFile = fs.resolve(token);
  if (auto ns = fs.readFile(dir + "/namespace", 4096); ns.isOk()) {
    std::string n = *ns;
    while (!n.empty() && (n.back() == '\n' || n.back() == ' ')) n.pop_back();
    if (!n.empty()) c.defaultNamespace = n;
  }
  c.source = "in-cluster";
  return c;
}

Result<Config> loadConfig(const Filesystem& fs, const EnvLookup& env, const std::string& path,
                          std::string_view context) {
  if (!path.empty()) return loadKubeconfig(fs, path, context);
  if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    std::string first = kc->substr(0, kc->find(':'));
    return loadKubeconfig(fs, first, context);
  }
  if (auto h = env("KUBERNETES_SERVICE_HOST"); h && !h->empty()) return inClusterConfig(fs, env);
  if (auto home = env("HOME"); home && !home->empty()) {
    return loadKubeconfig(fs, *home + "/.kube/config", context);
  }
  return failedPrecondition("no Kubernetes configuration: no kubeconfig, not in a cluster");
}

}  // namespace schedkit::kube
