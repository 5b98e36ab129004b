#pragma once

#include <map>
#include <string>

#include "schedkit/common/status.h"
#include "schedkit/policy/types.h"

namespace schedkit::policy {

using Labels = std::map<std::string, std::string>;

// Kubernetes label-selector semantics (metav1.LabelSelector): every matchLabels pair and every
// expression must hold. In: the label is present with one of the values. NotIn: the label is
// absent or has none of the values. Exists / DoesNotExist: presence only. An empty selector
// matches every node.
bool matches(const LabelSelector& selector, const Labels& labels);

// "k=v,k2 in (a,b),!k3" — kubectl's string form, for logs and printer output.
std::string toString(const LabelSelector& selector);

// Parses "k=v,k2=v2" (the agent's --node-labels); errors name the bad entry.
Result<Labels> parseLabels(std::string_view s);

}  // namespace schedkit::policy
