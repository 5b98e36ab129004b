// YAML → JSON for policy files, built from yaml-cpp's parser events (not its Node tree): budgets
// on events, nesting and alias expansion are enforced while parsing, so hostile input (alias
// bombs, parser loops that yaml-cpp 0.7 falls into on some malformed documents) fails fast
// instead of eating the agent's memory or time.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "schedkit/policy/decode.h"

namespace schedkit::policy {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxNodes = 200'000;  // values produced, aliases counted in full
constexpr std::size_t kMaxEvents = 400'000;  // parser events, whatever they produce
constexpr std::size_t kMaxDocuments = 1000;
constexpr std::size_t kMaxDepth = 64;

std::string where(const YAML::Mark& m) {
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
  if (s.size() > 64) return s;  // no number is that long; keeps the regexes cheap
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

struct Abort {
  std::string message;
};

class JsonBuilder final : public YAML::EventHandler {
 public:
  std::vector<json> documents;
  std::size_t events = 0;

  void OnDocumentStart(const YAML::Mark&) override {
    tick();
    stack_.clear();
    root_ = json();
    haveRoot_ = false;
  }
  void OnDocumentEnd() override {
    tick();
    if (documents.size() >= kMaxDocuments) throw Abort{"more than " + std::to_string(kMaxDocuments) + " documents"};
    if (haveRoot_ && !root_.is_null()) documents.push_back(std::move(root_));
  }
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override { add(m, nullptr, anchor, 1); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw Abort{"unknown alias at " + where(m)};
    add(m, it->second.first, 0, it->second.second);
  }
  void OnScalar(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    json v;
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      v = value;
    } else if (tag == "?" || tag.empty() || tag == "tag:yaml.org,2002:int" ||
               tag == "tag:yaml.org,2002:float" || tag == "tag:yaml.org,2002:bool" ||
               tag == "tag:yaml.org,2002:null") {
      v = resolvePlain(value);
    } else {
      throw Abort{"unsupported YAML tag " + tag + " at " + where(m)};
    }
    add(m, std::move(v), anchor, 1);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(m, tag, anchor, json::array());
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(m, tag, anchor, json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = 0;
    std::size_t nodes = 1;  // values inside, for alias accounting
    bool haveKey = false;
    std::string key;
    YAML::Mark keyMark;
  };

  void tick() {
    if (++events > kMaxEvents) throw Abort{"document too large (more than " + std::to_string(kMaxEvents) + " parser events)"};
  }
  void count(std::size_t n) {
    nodes_ += n;
    if (nodes_ > kMaxNodes) {
      throw Abort{"document too large or too deeply aliased (more than " + std::to_string(kMaxNodes) +
                  " nodes)"};
    }
  }
  void open(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor, json empty) {
    tick();
    if (tag != "?" && tag != "!" && !tag.empty() && tag != "tag:yaml.org,2002:seq" &&
        tag != "tag:yaml.org,2002:map") {
      throw Abort{"unsupported YAML tag " + tag + " at " + where(m)};
    }
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().haveKey) {
      throw Abort{"map keys must be strings, at " + where(m)};
    }
    if (stack_.size() >= kMaxDepth) throw Abort{"nesting deeper than " + std::to_string(kMaxDepth) + " at " + where(m)};
    count(1);
    stack_.push_back(Frame{std::move(empty), anchor, 1, false, {}, {}});
  }
  void close() {
    tick();
    if (stack_.empty()) throw Abort{"unbalanced YAML events"};
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.anchor != 0) anchors_[f.anchor] = {f.value, f.nodes};
    place(YAML::Mark::null_mark(), std::move(f.value), f.nodes);
  }
  void add(const YAML::Mark& m, json v, YAML::anchor_t anchor, std::size_t nodes) {
    tick();
    count(nodes);
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().haveKey) {
      // A map key.
      if (!v.is_string() && !v.is_number() && !v.is_boolean() && !v.is_null()) {
        throw Abort{"map keys must be strings, at " + where(m)};
      }
      Frame& f = stack_.back();
      f.key = v.is_string() ? v.get<std::string>() : v.dump();
      f.keyMark = m;
      if (f.value.contains(f.key)) throw Abort{"duplicate key \"" + f.key + "\" at " + where(m)};
      f.haveKey = true;
      return;
    }
    if (anchor != 0) anchors_[anchor] = {v, nodes};
    place(m, std::move(v), nodes);
  }
  void place(const YAML::Mark&, json v, std::size_t nodes) {
    if (stack_.empty()) {
      root_ = std::move(v);
      haveRoot_ = true;
      return;
    }
    Frame& f = stack_.back();
    f.nodes += nodes;
    if (f.value.is_array()) {
      f.value.push_back(std::move(v));
    } else {
      f.value[f.key] = std::move(v);
      f.haveKey = false;
    }
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, std::pair<json, std::size_t>> anchors_;
  json root_;
  bool haveRoot_ = false;
  std::size_t nodes_ = 0;
};

}  // namespace

Result<std::vector<json>> yamlToJson(std::string_view yaml) {
  std::istringstream in{std::string(yaml)};
  JsonBuilder b;
  try {
    YAML::Parser parser(in);
    std::size_t calls = 0;
    std::size_t lastEvents = 0;
    while (parser.HandleNextDocument(b)) {
      // yaml-cpp 0.7 can report documents forever on some malformed input without consuming it.
      if (++calls > kMaxDocuments + 1 || (b.events == lastEvents && calls > 1)) {
        return invalidArgument("invalid YAML: the parser made no progress (malformed document)");
      }
      lastEvents = b.events;
    }
  } catch (const Abort& a) {
    return invalidArgument("invalid YAML: " + a.message);
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (!e.mark.is_null()) msg = where(e.mark) + ": " + msg;
    return invalidArgument("invalid YAML: " + msg);
  } catch (const std::exception& e) {
    return invalidArgument(std::string("invalid YAML: ") + e.what());
  }
  return std::move(b.documents);
}

}  // namespace schedkit::policy
