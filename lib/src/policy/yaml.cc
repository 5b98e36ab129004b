// YAML → JSON for policy files. Kept apart so yaml-cpp stays an implementation detail.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <regex>
#include <set>

#include "schedkit/policy/decode.h"

namespace schedkit::policy {

using nlohmann::json;

namespace {

// Hostile-input caps: aliases let a tiny file expand exponentially ("billion laughs").
constexpr std::size_t kMaxNodes = 200'000;
constexpr int kMaxDepth = 64;

std::string where(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return "";
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

// Plain-scalar resolution as kubectl does it (sigs.k8s.io/yaml → go-yaml's YAML 1.1 rules for
// booleans, YAML 1.2-style numbers), so a file means the same here as under `kubectl apply`.
json resolvePlain(const std::string& s) {
  static const std::set<std::string> kTrue = {"y", "Y", "yes", "Yes", "YES", "true", "True",
                                              "TRUE", "on", "On", "ON"};
  static const std::set<std::string> kFalse = {"n", "N", "no", "No", "NO", "false", "False",
                                               "FALSE", "off", "Off", "OFF"};
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  static const std::regex kInt(R"([-+]?(0|[1-9][0-9]*))");
  static const std::regex kHex(R"(0x[0-9a-fA-F]+)");
  static const std::regex kOct(R"(0o?[0-7]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  errno = 0;
  if (std::regex_match(s, kInt)) {
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return v;
  } else if (std::regex_match(s, kHex)) {
    long long v = std::strtoll(s.c_str(), nullptr, 16);
    if (errno == 0) return v;
  } else if (std::regex_match(s, kOct) && s.size() > 1) {
    long long v = std::strtoll(s.c_str() + (s[1] == 'o' ? 2 : 1), nullptr, 8);
    if (errno == 0) return v;
  }
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  return s;
}

class Converter {
 public:
  Status convert(const YAML::Node& n, json& out, int depth) {
    if (++nodes_ > kMaxNodes) {
      return invalidArgument("document too large or too deeply aliased (more than " +
                             std::to_string(kMaxNodes) + " nodes)");
    }
    if (depth > kMaxDepth) return invalidArgument("nesting deeper than " + std::to_string(kMaxDepth) + " at " + where(n));
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = nullptr;
        return Status::ok();
      case YAML::NodeType::Scalar: {
        const std::string& tag = n.Tag();
        const std::string& v = n.Scalar();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
          out = v;
        } else if (tag == "?" || tag.empty()) {
          out = resolvePlain(v);
        } else if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
                   tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
          out = resolvePlain(v);
        } else {
          return invalidArgument("unsupported YAML tag " + tag + " at " + where(n));
        }
        return Status::ok();
      }
      case YAML::NodeType::Sequence: {
        out = json::array();
        for (const auto& item : n) {
          json j;
          SK_RETURN_IF_ERROR(convert(item, j, depth + 1));
          out.push_back(std::move(j));
        }
        return Status::ok();
      }
      case YAML::NodeType::Map: {
        out = json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            return invalidArgument("map keys must be strings, at " + where(kv.first));
          }
          const std::string key = kv.first.Scalar();
          if (out.contains(key)) {
            return invalidArgument("duplicate key \"" + key + "\" at " + where(kv.first));
          }
          json j;
          SK_RETURN_IF_ERROR(convert(kv.second, j, depth + 1));
          out[key] = std::move(j);
        }
        return Status::ok();
      }
    }
    return internalError("unknown YAML node type");
  }

 private:
  std::size_t nodes_ = 0;
};

}  // namespace

Result<std::vector<json>> yamlToJson(std::string_view yaml) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (!e.mark.is_null()) {
      msg = "line " + std::to_string(e.mark.line + 1) + ", column " +
            std::to_string(e.mark.column + 1) + ": " + msg;
    }
    return invalidArgument("invalid YAML: " + msg);
  }
  std::vector<json> out;
  Converter conv;
  for (const auto& d : docs) {
    if (d.IsNull() || !d.IsDefined()) continue;
    json j;
    Status st = conv.convert(d, j, 0);
    if (!st.isOk()) return st.withContext("invalid YAML");
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace schedkit::policy
