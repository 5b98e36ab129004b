#include "schedkit/policy/selector.h"

#include <algorithm>

#include "schedkit/policy/decode.h"

namespace schedkit::policy {

bool matches(const LabelSelector& selector, const Labels& labels) {
  for (const auto& [k, v] : selector.matchLabels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : selector.matchExpressions) {
    auto it = labels.find(r.key);
    bool present = it != labels.end();
    auto inValues = [&] {
      return present && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    };
    switch (r.op) {
      case SelectorOperator::kIn:
        if (!inValues()) return false;
        break;
      case SelectorOperator::kNotIn:
        if (inValues()) return false;
        break;
      case SelectorOperator::kExists:
        if (!present) return false;
        break;
      case SelectorOperator::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

std::string toString(const LabelSelector& selector) {
  std::string out;
  auto add = [&](const std::string& s) {
    if (!out.empty()) out += ',';
    out += s;
  };
  for (const auto& [k, v] : selector.matchLabels) add(k + "=" + v);
  for (const auto& r : selector.matchExpressions) {
    std::string vals;
    for (const auto& v : r.values) vals += (vals.empty() ? "" : ",") + v;
    switch (r.op) {
      case SelectorOperator::kIn: add(r.key + " in (" + vals + ")"); break;
      case SelectorOperator::kNotIn: add(r.key + " notin (" + vals + ")"); break;
      case SelectorOperator::kExists: add(r.key); break;
      case SelectorOperator::kDoesNotExist: add("!" + r.key); break;
    }
  }
  return out;
}

Result<Labels> parseLabels(std::string_view s) {
  Labels out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view item = s.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return invalidArgument("label \"" + std::string(item) + "\": expected key=value");
    }
    std::string key(item.substr(0, eq)), value(item.substr(eq + 1));
    std::string why;
    if (!isQualifiedLabelKey(key, &why)) {
      return invalidArgument("label key \"" + key + "\": " + why);
    }
    if (!isLabelValue(value, &why)) {
      return invalidArgument("label \"" + key + "\" value \"" + value + "\": " + why);
    }
    if (out.count(key)) return invalidArgument("label \"" + key + "\" given twice");
    out[key] = value;
  }
  return out;
}

}  // namespace schedkit::policy
