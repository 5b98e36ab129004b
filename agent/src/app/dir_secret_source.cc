#include "app/dir_secret_source.h"

#include "schedkit/oci/credentials.h"
#include "schedkit/policy/decode.h"

namespace schedkit::agent {

Result<std::map<std::string, std::string>> DirSecretSource::get(const std::string& name) {
  std::string why;
  if (!policy::isDnsSubdomain(name, &why)) return invalidArgument("secret name: " + why);
  std::string path = joinPath(dir_, name);
  auto keys = fs_.listDir(path);
  if (!keys.isOk()) return notFound("secret " + name + " not found in " + dir_);
  std::map<std::string, std::string> data;
  for (const auto& k : *keys) {
    // Mounted Secrets carry ..data and timestamped dirs; only the docker keys start with a dot.
    if (k.empty() || (k[0] == '.' && k != ".dockerconfigjson" && k != ".dockercfg")) continue;
    SK_ASSIGN_OR_RETURN(std::string v, fs_.readFile(joinPath(path, k), 1u << 20));
    data[k] = oci::base64Encode(v);  // as the API returns Secret data
  }
  return data;
}

}  // namespace schedkit::agent
