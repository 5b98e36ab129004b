#include "schedkit/kube/resource.h"

namespace schedkit::kube {

std::string Resource::apiVersion() const { return group.empty() ? version : group + "/" + version; }

std::string Resource::path(std::string_view ns, std::string_view name,
                           std::string_view subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += ns;
  }
  p += "/";
  p += plural;
  if (!name.empty()) {
    p += "/";
    p += name;
    if (!subresource.empty()) {
      p += "/";
      p += subresource;
    }
  }
  return p;
}

}  // namespace schedkit::kube
