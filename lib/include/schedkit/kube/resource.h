#pragma once

#include <string>
#include <string_view>

namespace schedkit::kube {

// What the client talks to: a group/version/resource, and whether it lives in namespaces.
// The client is generic over these; typed code decodes the JSON it gets back.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // the URL segment: "nodes", "schedulerpolicies"
  std::string kind;     // "Node": used to fill apiVersion/kind in apply bodies
  bool namespaced = false;

  // "v1" or "group/version", as objects carry it.
  std::string apiVersion() const;
  // /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE]] (or /apis/GROUP/VERSION/...). An empty
  // namespace on a namespaced resource means all namespaces (list and watch only).
  std::string path(std::string_view ns = {}, std::string_view name = {},
                   std::string_view subresource = {}) const;
};

// Well-known resources the agent and the operator use.
namespace resources {
inline const Resource kNodes{"", "v1", "nodes", "Node", false};
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kEvents{"events.k8s.io", "v1", "events", "Event", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kSchedulerPolicies{"schedkit.io", "v1alpha1", "schedulerpolicies",
                                         "SchedulerPolicy", false};
inline const Resource kSchedulerNodeStates{"schedkit.io", "v1alpha1", "schedulernodestates",
                                           "SchedulerNodeState", false};
}  // namespace resources

}  // namespace schedkit::kube
