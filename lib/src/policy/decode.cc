#include "schedkit/policy/decode.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <set>
#include <string>

#include "schedkit/common/duration.h"

namespace schedkit::policy {

using nlohmann::json;

namespace {

constexpr int kMaxPriority = 1'000'000;
constexpr std::size_t kMaxArgs = 64;
constexpr std::size_t kMaxArgLen = 4096;
constexpr std::size_t kMaxEnv = 64;
constexpr std::size_t kMaxEnvNameLen = 256;
constexpr std::size_t kMaxEnvValueLen = 4096;
constexpr std::size_t kMaxImageLen = 512;
constexpr std::size_t kMaxHostPathLen = 4096;
constexpr std::size_t kMaxOpsNameLen = 128;
constexpr std::size_t kMaxPullSecrets = 8;
constexpr int kMaxRestartsLimit = 100;

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string jsonTypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "value";
  }
}

// Walks a JSON document collecting every problem with its field path.
class Decoder {
 public:
  explicit Decoder(const DecodeOptions& o) : opts_(o) {}

  void fail(const std::string& path, const std::string& msg) {
    errors_.push_back(path.empty() ? msg : path + ": " + msg);
  }
  bool ok() const { return errors_.empty(); }
  Status status() const {
    std::string all;
    for (const auto& e : errors_) {
      if (!all.empty()) all += "; ";
      all += e;
    }
    return invalidArgument(all);
  }

  static std::string sub(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string idx(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  // Checks `j` is an object (null counts as absent and yields false) and that it has no keys
  // beyond `known`.
  bool object(const json& j, const std::string& path, std::initializer_list<std::string_view> known) {
    if (j.is_null()) return false;
    if (!j.is_object()) {
      fail(path, "must be an object, not " + jsonTypeName(j));
      return false;
    }
    if (opts_.rejectUnknownFields) {
      for (const auto& [k, v] : j.items()) {
        if (std::find(known.begin(), known.end(), k) == known.end()) {
          fail(sub(path, k), "unknown field" + suggest(k, known));
        }
      }
    }
    return true;
  }

  static const json& get(const json& obj, std::string_view key) {
    static const json kNull;
    if (!obj.is_object()) return kNull;
    auto it = obj.find(std::string(key));
    return it == obj.end() ? kNull : *it;
  }

  bool string(const json& obj, std::string_view key, const std::string& path, std::string& out,
              bool required = false, std::size_t maxLen = 0) {
    const json& v = get(obj, key);
    std::string p = sub(path, key);
    if (v.is_null()) {
      if (required) fail(p, "required");
      return false;
    }
    if (!v.is_string()) {
      fail(p, "must be a string, not " + jsonTypeName(v));
      return false;
    }
    out = v.get<std::string>();
    if (required && out.empty()) {
      fail(p, "must not be empty");
      return false;
    }
    if (maxLen != 0 && out.size() > maxLen) {
      fail(p, "must be at most " + std::to_string(maxLen) + " characters, not " +
                  std::to_string(out.size()));
      return false;
    }
    return true;
  }

  bool integer(const json& obj, std::string_view key, const std::string& path, std::int64_t& out,
               std::int64_t min, std::int64_t max) {
    const json& v = get(obj, key);
    std::string p = sub(path, key);
    if (v.is_null()) return false;
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (d != static_cast<double>(static_cast<std::int64_t>(d))) {
        fail(p, "must be an integer, not " + v.dump());
        return false;
      }
      out = static_cast<std::int64_t>(d);
    } else if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(max)) {
        fail(p, "must be at most " + std::to_string(max) + ", not " + v.dump());
        return false;
      }
      out = static_cast<std::int64_t>(u);
    } else if (v.is_number_integer()) {
      out = v.get<std::int64_t>();
    } else {
      fail(p, "must be an integer, not " + jsonTypeName(v));
      return false;
    }
    if (out < min) {
      fail(p, "must be at least " + std::to_string(min) + ", not " + std::to_string(out));
      return false;
    }
    if (out > max) {
      fail(p, "must be at most " + std::to_string(max) + ", not " + std::to_string(out));
      return false;
    }
    return true;
  }

  bool integer(const json& obj, std::string_view key, const std::string& path, int& out, int min,
               int max) {
    std::int64_t v = out;
    if (!integer(obj, key, path, v, min, max)) return false;
    out = static_cast<int>(v);
    return true;
  }

  bool boolean(const json& obj, std::string_view key, const std::string& path, bool& out) {
    const json& v = get(obj, key);
    if (v.is_null()) return false;
    if (!v.is_boolean()) {
      fail(sub(path, key), "must be true or false, not " + jsonTypeName(v));
      return false;
    }
    out = v.get<bool>();
    return true;
  }

  bool duration(const json& obj, std::string_view key, const std::string& path, Duration& out,
                bool positive = true) {
    std::string s;
    if (!string(obj, key, path, s)) return false;
    auto d = parseDuration(s);
    if (!d.isOk()) {
      fail(sub(path, key), "must be a duration like \"30s\", \"5m\" or \"1h30m\", not " + quote(s));
      return false;
    }
    if (positive && *d <= Duration::zero()) {
      fail(sub(path, key), "must be greater than zero");
      return false;
    }
    out = *d;
    return true;
  }

  template <typename E>
  bool enumeration(const json& obj, std::string_view key, const std::string& path, E& out,
                   std::initializer_list<std::pair<std::string_view, E>> values) {
    std::string s;
    if (!string(obj, key, path, s)) return false;
    for (const auto& [name, v] : values) {
      if (s == name) {
        out = v;
        return true;
      }
    }
    std::string allowed;
    for (const auto& [name, v] : values) {
      if (!allowed.empty()) allowed += ", ";
      allowed += quote(name);
    }
    fail(sub(path, key), "unsupported value " + quote(s) + ": supported values: " + allowed);
    return false;
  }

  // Returns the array at key, or nullptr when absent or wrong.
  const json* array(const json& obj, std::string_view key, const std::string& path,
                    std::size_t maxItems = 0) {
    const json& v = get(obj, key);
    if (v.is_null()) return nullptr;
    std::string p = sub(path, key);
    if (!v.is_array()) {
      fail(p, "must be a list, not " + jsonTypeName(v));
      return nullptr;
    }
    if (maxItems != 0 && v.size() > maxItems) {
      fail(p, "must have at most " + std::to_string(maxItems) + " items, not " +
                  std::to_string(v.size()));
      return nullptr;
    }
    return &v;
  }

  bool stringList(const json& obj, std::string_view key, const std::string& path,
                  std::vector<std::string>& out, std::size_t maxItems, std::size_t maxLen) {
    const json* arr = array(obj, key, path, maxItems);
    if (arr == nullptr) return false;
    out.clear();
    bool good = true;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const json& v = (*arr)[i];
      std::string p = idx(sub(path, key), i);
      if (!v.is_string()) {
        fail(p, "must be a string, not " + jsonTypeName(v));
        good = false;
        continue;
      }
      if (maxLen != 0 && v.get_ref<const std::string&>().size() > maxLen) {
        fail(p, "must be at most " + std::to_string(maxLen) + " characters");
        good = false;
        continue;
      }
      out.push_back(v.get<std::string>());
    }
    return good;
  }

  bool stringMap(const json& obj, std::string_view key, const std::string& path,
                 std::map<std::string, std::string>& out) {
    const json& v = get(obj, key);
    if (v.is_null()) return false;
    std::string p = sub(path, key);
    if (!v.is_object()) {
      fail(p, "must be a map of strings, not " + jsonTypeName(v));
      return false;
    }
    for (const auto& [k, val] : v.items()) {
      if (!val.is_string()) {
        fail(sub(p, k), "must be a string, not " + jsonTypeName(val));
        continue;
      }
      out[k] = val.get<std::string>();
    }
    return true;
  }

  const DecodeOptions& opts() const { return opts_; }

 private:
  static std::size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t c = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, c});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  }
  static std::string suggest(std::string_view k, std::initializer_list<std::string_view> known) {
    std::string_view best;
    std::size_t bestD = 3;
    for (auto cand : known) {
      std::size_t d = editDistance(k, cand);
      if (d < bestD) {
        bestD = d;
        best = cand;
      }
    }
    return best.empty() ? std::string() : " (did you mean " + quote(best) + "?)";
  }

  const DecodeOptions& opts_;
  std::vector<std::string> errors_;
};

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool isLabelName(std::string_view s, std::string* why) {
  if (s.empty() || s.size() > 63) {
    if (why) *why = "name part must be 1 to 63 characters";
    return false;
  }
  if (!isAlnum(s.front()) || !isAlnum(s.back())) {
    if (why) *why = "name part must start and end with a letter or digit";
    return false;
  }
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') {
      if (why) *why = "name part may contain only letters, digits, '-', '_' and '.'";
      return false;
    }
  }
  return true;
}

void decodeMeta(Decoder& d, const json& obj, ObjectMeta& m, bool clusterScoped) {
  const json& meta = Decoder::get(obj, "metadata");
  if (meta.is_null()) {
    d.fail("metadata.name", "required");
    return;
  }
  if (!meta.is_object()) {
    d.fail("metadata", "must be an object");
    return;
  }
  // metadata is never strict: tools add fields (managedFields, finalizers...) we do not model.
  if (d.string(meta, "name", "metadata", m.name, true)) {
    std::string why;
    if (!isDnsSubdomain(m.name, &why)) d.fail("metadata.name", why);
  }
  if (clusterScoped) {
    std::string ns;
    if (d.string(meta, "namespace", "metadata", ns) && !ns.empty()) {
      d.fail("metadata.namespace", "must not be set: the resource is cluster-scoped");
    }
  }
  d.string(meta, "uid", "metadata", m.uid);
  d.string(meta, "resourceVersion", "metadata", m.resourceVersion);
  d.integer(meta, "generation", "metadata", m.generation, 0, INT64_MAX);
  d.stringMap(meta, "labels", "metadata", m.labels);
  d.stringMap(meta, "annotations", "metadata", m.annotations);
  d.string(meta, "creationTimestamp", "metadata", m.creationTimestamp);
  d.string(meta, "deletionTimestamp", "metadata", m.deletionTimestamp);
}

void decodeTypeMeta(Decoder& d, const json& obj, std::string_view kind) {
  std::string apiVersion, k;
  if (d.string(obj, "apiVersion", "", apiVersion, true) && apiVersion != kApiVersion) {
    d.fail("apiVersion", "must be " + quote(kApiVersion) + ", not " + quote(apiVersion));
  }
  if (d.string(obj, "kind", "", k, true) && k != kind) {
    d.fail("kind", "must be " + quote(kind) + ", not " + quote(k));
  }
}

void decodeSelector(Decoder& d, const json& j, const std::string& path, LabelSelector& sel) {
  if (!d.object(j, path, {"matchLabels", "matchExpressions"})) return;
  if (d.stringMap(j, "matchLabels", path, sel.matchLabels)) {
    for (const auto& [k, v] : sel.matchLabels) {
      std::string why;
      std::string p = Decoder::sub(Decoder::sub(path, "matchLabels"), k);
      if (!isQualifiedLabelKey(k, &why)) d.fail(p, "invalid label key: " + why);
      if (!isLabelValue(v, &why)) d.fail(p, "invalid label value " + quote(v) + ": " + why);
    }
  }
  const json* exprs = d.array(j, "matchExpressions", path, 64);
  if (exprs == nullptr) return;
  for (std::size_t i = 0; i < exprs->size(); ++i) {
    std::string p = Decoder::idx(Decoder::sub(path, "matchExpressions"), i);
    const json& e = (*exprs)[i];
    if (!d.object(e, p, {"key", "operator", "values"})) {
      if (e.is_null()) d.fail(p, "must be an object, not null");
      continue;
    }
    LabelSelectorRequirement r;
    std::string why;
    if (d.string(e, "key", p, r.key, true) && !isQualifiedLabelKey(r.key, &why)) {
      d.fail(Decoder::sub(p, "key"), "invalid label key: " + why);
    }
    bool haveOp = d.enumeration(e, "operator", p, r.op,
                                {{"In", SelectorOperator::kIn},
                                 {"NotIn", SelectorOperator::kNotIn},
                                 {"Exists", SelectorOperator::kExists},
                                 {"DoesNotExist", SelectorOperator::kDoesNotExist}});
    if (!haveOp && Decoder::get(e, "operator").is_null()) d.fail(Decoder::sub(p, "operator"), "required");
    d.stringList(e, "values", p, r.values, 256, 63);
    for (std::size_t k = 0; k < r.values.size(); ++k) {
      if (!isLabelValue(r.values[k], &why)) {
        d.fail(Decoder::idx(Decoder::sub(p, "values"), k),
               "invalid label value " + quote(r.values[k]) + ": " + why);
      }
    }
    if (haveOp) {
      bool setOp = r.op == SelectorOperator::kIn || r.op == SelectorOperator::kNotIn;
      if (setOp && r.values.empty()) {
        d.fail(Decoder::sub(p, "values"), "must be non-empty when operator is In or NotIn");
      }
      if (!setOp && !r.values.empty()) {
        d.fail(Decoder::sub(p, "values"), "must be empty when operator is Exists or DoesNotExist");
      }
    }
    sel.matchExpressions.push_back(std::move(r));
  }
}

void decodeScheduler(Decoder& d, const json& j, const std::string& path, SchedulerSpec& s) {
  if (j.is_null()) {
    d.fail(path, "required");
    return;
  }
  if (!d.object(j, path,
                {"image", "hostPath", "type", "opsName", "imagePullPolicy", "imagePullSecrets",
                 "args", "env", "verify"})) {
    return;
  }
  bool hasImage = d.string(j, "image", path, s.image, false, kMaxImageLen) && !s.image.empty();
  bool hasHost = d.string(j, "hostPath", path, s.hostPath, false, kMaxHostPathLen) &&
                 !s.hostPath.empty();
  if (hasImage == hasHost) {
    d.fail(path, "exactly one of spec.scheduler.image or spec.scheduler.hostPath must be set");
  }
  if (hasImage) {
    for (unsigned char c : s.image) {
      if (std::isspace(c) || c < 0x20) {
        d.fail(Decoder::sub(path, "image"), "must not contain whitespace");
        break;
      }
    }
  }
  if (hasHost) {
    if (s.hostPath.front() != '/') {
      d.fail(Decoder::sub(path, "hostPath"), "must be an absolute path (start with \"/\")");
    }
    if (s.hostPath.find("/../") != std::string::npos || s.hostPath.ends_with("/..")) {
      d.fail(Decoder::sub(path, "hostPath"), "must not contain \"..\" components");
    }
  }
  if (d.enumeration(j, "type", path, s.type,
                    {{"binary", SchedulerType::kBinary}, {"bpf-object", SchedulerType::kBpfObject}}) &&
      !hasHost) {
    d.fail(Decoder::sub(path, "type"),
           "is only allowed with hostPath (images declare their type in labels)");
  }
  if (d.string(j, "opsName", path, s.opsName, false, kMaxOpsNameLen)) {
    for (char c : s.opsName) {
      if (!isAlnum(c) && c != '_' && c != '.') {
        d.fail(Decoder::sub(path, "opsName"),
               "may contain only letters, digits, '_' and '.' (a BPF object name)");
        break;
      }
    }
  }
  d.enumeration(j, "imagePullPolicy", path, s.imagePullPolicy,
                {{"IfNotPresent", PullPolicy::kIfNotPresent},
                 {"Always", PullPolicy::kAlways},
                 {"Never", PullPolicy::kNever}});
  if (const json* secrets = d.array(j, "imagePullSecrets", path, kMaxPullSecrets)) {
    if (!hasImage && !secrets->empty()) {
      d.fail(Decoder::sub(path, "imagePullSecrets"), "is only allowed with image");
    }
    for (std::size_t i = 0; i < secrets->size(); ++i) {
      std::string p = Decoder::idx(Decoder::sub(path, "imagePullSecrets"), i);
      const json& e = (*secrets)[i];
      if (!d.object(e, p, {"name"})) {
        if (e.is_null()) d.fail(p, "must be an object");
        continue;
      }
      std::string name, why;
      if (d.string(e, "name", p, name, true, 253)) {
        if (!isDnsSubdomain(name, &why)) d.fail(Decoder::sub(p, "name"), why);
        if (std::find(s.imagePullSecrets.begin(), s.imagePullSecrets.end(), name) !=
            s.imagePullSecrets.end()) {
          d.fail(Decoder::sub(p, "name"), "duplicate pull secret " + quote(name));
        }
        s.imagePullSecrets.push_back(name);
      }
    }
  }
  d.stringList(j, "args", path, s.args, kMaxArgs, kMaxArgLen);
  if (const json* env = d.array(j, "env", path, kMaxEnv)) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < env->size(); ++i) {
      std::string p = Decoder::idx(Decoder::sub(path, "env"), i);
      const json& e = (*env)[i];
      if (!d.object(e, p, {"name", "value"})) {
        if (e.is_null()) d.fail(p, "must be an object");
        continue;
      }
      EnvVar v;
      if (d.string(e, "name", p, v.name, true, kMaxEnvNameLen)) {
        bool good = !v.name.empty() && !std::isdigit(static_cast<unsigned char>(v.name[0]));
        for (char c : v.name) good = good && (isAlnum(c) || c == '_');
        if (!good) {
          d.fail(Decoder::sub(p, "name"),
                 "invalid environment variable name " + quote(v.name) +
                     ": use letters, digits and '_', not starting with a digit");
        } else if (!seen.insert(v.name).second) {
          d.fail(Decoder::sub(p, "name"), "duplicate environment variable " + quote(v.name));
        }
      }
      d.string(e, "value", p, v.value, false, kMaxEnvValueLen);
      s.env.push_back(std::move(v));
    }
  }
  const json& verify = Decoder::get(j, "verify");
  std::string vpath = Decoder::sub(path, "verify");
  if (d.object(verify, vpath, {"publicKey"})) {
    if (!hasImage) d.fail(vpath, "is only allowed with image (a hostPath scheduler has no signature)");
    VerifySpec v;
    const json& pk = Decoder::get(verify, "publicKey");
    std::string pkpath = Decoder::sub(vpath, "publicKey");
    if (pk.is_null()) d.fail(pkpath, "required");
    if (d.object(pk, pkpath, {"secretRef"})) {
      const json& ref = Decoder::get(pk, "secretRef");
      std::string rpath = Decoder::sub(pkpath, "secretRef");
      if (ref.is_null()) d.fail(rpath, "required");
      if (d.object(ref, rpath, {"name", "key"})) {
        std::string why;
        if (d.string(ref, "name", rpath, v.publicKey.name, true, 253) &&
            !isDnsSubdomain(v.publicKey.name, &why)) {
          d.fail(Decoder::sub(rpath, "name"), why);
        }
        d.string(ref, "key", rpath, v.publicKey.key, false, 253);
        if (v.publicKey.key.empty()) v.publicKey.key = "cosign.pub";
      }
    }
    s.verify = v;
  }
}

void decodeFailurePolicy(Decoder& d, const json& j, const std::string& path, FailurePolicy& f) {
  if (!d.object(j, path, {"maxRestarts", "window", "backoff"})) return;
  d.integer(j, "maxRestarts", path, f.maxRestarts, 0, kMaxRestartsLimit);
  d.duration(j, "window", path, f.window);
  const json& b = Decoder::get(j, "backoff");
  std::string bpath = Decoder::sub(path, "backoff");
  if (d.object(b, bpath, {"initial", "max"})) {
    bool a = d.duration(b, "initial", bpath, f.backoff.initial);
    bool m = d.duration(b, "max", bpath, f.backoff.max);
    (void)a;
    (void)m;
  }
  if (f.backoff.initial > f.backoff.max) {
    d.fail(bpath, "initial must not be greater than max");
  }
}

void decodeHealth(Decoder& d, const json& j, const std::string& path, HealthSpec& h) {
  if (!d.object(j, path, {"startupTimeout", "runqueueLatency"})) return;
  d.duration(j, "startupTimeout", path, h.startupTimeout);
  const json& r = Decoder::get(j, "runqueueLatency");
  std::string rpath = Decoder::sub(path, "runqueueLatency");
  if (d.object(r, rpath, {"p99", "window"})) {
    RunqueueLatencyGuard g;
    if (Decoder::get(r, "p99").is_null()) d.fail(Decoder::sub(rpath, "p99"), "required");
    d.duration(r, "p99", rpath, g.p99);
    d.duration(r, "window", rpath, g.window);
    h.runqueueLatency = g;
  }
}

void decodeIntOrPercent(Decoder& d, const json& j, std::string_view key, const std::string& path,
                        IntOrPercent& out) {
  const json& v = Decoder::get(j, key);
  if (v.is_null()) return;
  std::string p = Decoder::sub(path, key);
  const std::string msg = "must be an integer or a percentage like \"10%\"";
  if (v.is_number_integer() || v.is_number_unsigned()) {
    auto n = v.get<std::int64_t>();
    if (n < 1 || n > 1'000'000) {
      d.fail(p, msg + " (an integer must be at least 1)");
      return;
    }
    out = {false, static_cast<int>(n)};
    return;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() >= 2 && s.size() <= 4 && s.back() == '%' &&
        std::all_of(s.begin(), s.end() - 1, [](char c) { return c >= '0' && c <= '9'; }) &&
        s.front() != '0') {
      int pct = std::stoi(s.substr(0, s.size() - 1));
      if (pct >= 1 && pct <= 100) {
        out = {true, pct};
        return;
      }
    }
  }
  d.fail(p, msg);
}

void decodeRollout(Decoder& d, const json& j, const std::string& path, RolloutSpec& r) {
  if (!d.object(j, path, {"strategy", "canary", "maxUnavailable", "haltOnFallbacks", "autoRollback"})) {
    return;
  }
  d.enumeration(j, "strategy", path, r.strategy,
                {{"Immediate", RolloutStrategy::kImmediate}, {"Canary", RolloutStrategy::kCanary}});
  const json& c = Decoder::get(j, "canary");
  std::string cpath = Decoder::sub(path, "canary");
  if (d.object(c, cpath, {"nodes", "bakeTime"})) {
    if (r.strategy != RolloutStrategy::kCanary) {
      d.fail(cpath, "is only allowed with strategy Canary");
    }
    CanarySpec cs;
    d.integer(c, "nodes", cpath, cs.nodes, 1, 1'000'000);
    d.duration(c, "bakeTime", cpath, cs.bakeTime);
    r.canary = cs;
  }
  decodeIntOrPercent(d, j, "maxUnavailable", path, r.maxUnavailable);
  d.integer(j, "haltOnFallbacks", path, r.haltOnFallbacks, 0, 1'000'000);
  d.boolean(j, "autoRollback", path, r.autoRollback);
}

void decodeConditions(Decoder& d, const json& j, std::string_view key, const std::string& path,
                      std::vector<Condition>& out) {
  const json* arr = d.array(j, key, path, 32);
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string p = Decoder::idx(Decoder::sub(path, key), i);
    const json& e = (*arr)[i];
    if (!d.object(e, p, {"type", "status", "observedGeneration", "lastTransitionTime", "reason",
                         "message"})) {
      continue;
    }
    Condition c;
    d.string(e, "type", p, c.type, true);
    d.string(e, "status", p, c.status, true);
    d.integer(e, "observedGeneration", p, c.observedGeneration, 0, INT64_MAX);
    d.string(e, "lastTransitionTime", p, c.lastTransitionTime);
    d.string(e, "reason", p, c.reason);
    d.string(e, "message", p, c.message);
    out.push_back(std::move(c));
  }
}

void decodeEnvList(Decoder& d, const json& j, std::string_view key, const std::string& path,
                   std::vector<EnvVar>& out) {
  const json* arr = d.array(j, key, path, kMaxEnv);
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string p = Decoder::idx(Decoder::sub(path, key), i);
    const json& e = (*arr)[i];
    if (!d.object(e, p, {"name", "value"})) continue;
    EnvVar v;
    d.string(e, "name", p, v.name, true);
    d.string(e, "value", p, v.value);
    out.push_back(std::move(v));
  }
}

SchedulerMode decodeMode(Decoder& d, const json& j, std::string_view key, const std::string& path) {
  SchedulerMode m = SchedulerMode::kFull;
  d.enumeration(j, key, path, m,
                {{"Full", SchedulerMode::kFull}, {"Partial", SchedulerMode::kPartial}});
  return m;
}

void decodePolicyStatus(Decoder& d, const json& j, SchedulerPolicyStatus& s) {
  const std::string path = "status";
  if (!d.object(j, path, {"observedGeneration", "resolvedImage", "nodes", "rollout", "conditions",
                          "recentFallbacks"})) {
    return;
  }
  d.integer(j, "observedGeneration", path, s.observedGeneration, 0, INT64_MAX);
  d.string(j, "resolvedImage", path, s.resolvedImage);
  const json& n = Decoder::get(j, "nodes");
  std::string npath = "status.nodes";
  if (d.object(n, npath, {"matched", "attached", "pending", "fallenBack", "incompatible", "conflicted",
                             "failed"})) {
    d.integer(n, "matched", npath, s.nodes.matched, 0, INT32_MAX);
    d.integer(n, "attached", npath, s.nodes.attached, 0, INT32_MAX);
    d.integer(n, "pending", npath, s.nodes.pending, 0, INT32_MAX);
    d.integer(n, "fallenBack", npath, s.nodes.fallenBack, 0, INT32_MAX);
    d.integer(n, "incompatible", npath, s.nodes.incompatible, 0, INT32_MAX);
    d.integer(n, "conflicted", npath, s.nodes.conflicted, 0, INT32_MAX);
    d.integer(n, "failed", npath, s.nodes.failed, 0, INT32_MAX);
  }
  const json& r = Decoder::get(j, "rollout");
  std::string rpath = "status.rollout";
  if (d.object(r, rpath, {"revision", "phase", "admittedBelow", "stable"})) {
    RolloutStatus rs;
    d.string(r, "revision", rpath, rs.revision);
    d.enumeration(r, "phase", rpath, rs.phase,
                  {{"Pending", RolloutPhase::kPending},
                   {"Progressing", RolloutPhase::kProgressing},
                   {"Halted", RolloutPhase::kHalted},
                   {"RolledBack", RolloutPhase::kRolledBack},
                   {"Complete", RolloutPhase::kComplete}});
    d.integer(r, "admittedBelow", rpath, rs.admittedBelow, 0, 10000);
    const json& st = Decoder::get(r, "stable");
    std::string spath = "status.rollout.stable";
    if (d.object(st, spath, {"revision", "image", "hostPath", "args", "env", "mode"})) {
      RevisionSpec rev;
      d.string(st, "revision", spath, rev.revision);
      d.string(st, "image", spath, rev.image);
      d.string(st, "hostPath", spath, rev.hostPath);
      d.stringList(st, "args", spath, rev.args, kMaxArgs, kMaxArgLen);
      decodeEnvList(d, st, "env", spath, rev.env);
      rev.mode = decodeMode(d, st, "mode", spath);
      rs.stable = rev;
    }
    s.rollout = rs;
  }
  decodeConditions(d, j, "conditions", path, s.conditions);
  if (const json* arr = d.array(j, "recentFallbacks", path, kMaxRecentFallbacks)) {
    for (std::size_t i = 0; i < arr->size(); ++i) {
      std::string p = Decoder::idx("status.recentFallbacks", i);
      const json& e = (*arr)[i];
      if (!d.object(e, p, {"node", "time", "exitKind", "exitKindName", "reason", "message"})) continue;
      FallbackRecord f;
      d.string(e, "node", p, f.node);
      d.string(e, "time", p, f.time);
      d.integer(e, "exitKind", p, f.exitKind, 0, INT32_MAX);
      d.string(e, "exitKindName", p, f.exitKindName);
      d.string(e, "reason", p, f.reason);
      d.string(e, "message", p, f.message);
      s.recentFallbacks.push_back(std::move(f));
    }
  }
}

}  // namespace

bool isDnsSubdomain(std::string_view name, std::string* why) {
  if (name.empty() || name.size() > 253) {
    if (why) *why = "must be 1 to 253 characters";
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    std::string_view part = name.substr(start, dot == std::string_view::npos ? name.size() - start : dot - start);
    bool good = !part.empty() && part.size() <= 63;
    for (char c : part) good = good && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    good = good && part.front() != '-' && part.back() != '-';
    if (!good) {
      if (why) {
        *why = "must be a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', "
               "starting and ending with a letter or digit), not " + quote(name);
      }
      return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool isQualifiedLabelKey(std::string_view key, std::string* why) {
  std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    std::string sub;
    if (!isDnsSubdomain(prefix, &sub)) {
      if (why) *why = "prefix " + sub;
      return false;
    }
    key = key.substr(slash + 1);
  }
  std::string inner;
  if (!isLabelName(key, &inner)) {
    if (why) *why = inner;
    return false;
  }
  return true;
}

bool isLabelValue(std::string_view value, std::string* why) {
  if (value.empty()) return true;
  if (value.size() > 63) {
    if (why) *why = "must be at most 63 characters";
    return false;
  }
  std::string inner;
  if (!isLabelName(value, &inner)) {
    if (why) *why = "must be empty or start and end with a letter or digit, with only letters, "
                    "digits, '-', '_' and '.' between";
    return false;
  }
  return true;
}

Result<SchedulerPolicy> decodePolicy(const json& obj, const DecodeOptions& opts) {
  Decoder d(opts);
  SchedulerPolicy p;
  if (!obj.is_object()) return invalidArgument("a SchedulerPolicy must be an object, not " + jsonTypeName(obj));
  d.object(obj, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  decodeTypeMeta(d, obj, kPolicyKind);
  decodeMeta(d, obj, p.metadata, true);
  const json& spec = Decoder::get(obj, "spec");
  if (spec.is_null()) {
    d.fail("spec", "required");
  } else if (d.object(spec, "spec", {"scheduler", "nodeSelector", "priority", "mode",
                                     "failurePolicy", "health", "rollout", "paused"})) {
    SchedulerPolicySpec& s = p.spec;
    decodeScheduler(d, Decoder::get(spec, "scheduler"), "spec.scheduler", s.scheduler);
    decodeSelector(d, Decoder::get(spec, "nodeSelector"), "spec.nodeSelector", s.nodeSelector);
    d.integer(spec, "priority", "spec", s.priority, 0, kMaxPriority);
    s.mode = decodeMode(d, spec, "mode", "spec");
    decodeFailurePolicy(d, Decoder::get(spec, "failurePolicy"), "spec.failurePolicy", s.failurePolicy);
    decodeHealth(d, Decoder::get(spec, "health"), "spec.health", s.health);
    decodeRollout(d, Decoder::get(spec, "rollout"), "spec.rollout", s.rollout);
    d.boolean(spec, "paused", "spec", s.paused);
  }
  const json& status = Decoder::get(obj, "status");
  if (!status.is_null()) decodePolicyStatus(d, status, p.status);
  if (!d.ok()) {
    Status st = d.status();
    return p.metadata.name.empty() ? st : st.withContext("SchedulerPolicy " + quote(p.metadata.name));
  }
  return p;
}

Result<LabelSelector> decodeLabelSelector(const json& obj, const DecodeOptions& opts) {
  Decoder d(opts);
  LabelSelector sel;
  decodeSelector(d, obj, "", sel);
  if (!d.ok()) return d.status();
  return sel;
}

Result<SchedulerNodeState> decodeNodeState(const json& obj, const DecodeOptions& opts) {
  Decoder d(opts);
  SchedulerNodeState s;
  if (!obj.is_object()) return invalidArgument("a SchedulerNodeState must be an object");
  d.object(obj, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  decodeTypeMeta(d, obj, kNodeStateKind);
  decodeMeta(d, obj, s.metadata, true);
  const json& spec = Decoder::get(obj, "spec");
  if (d.object(spec, "spec", {"nodeName"})) d.string(spec, "nodeName", "spec", s.nodeName, true);
  const json& st = Decoder::get(obj, "status");
  const std::string path = "status";
  if (d.object(st, path, {"observedPolicies", "kernel", "policy", "revision", "phase", "active",
                          "restarts", "lastExit", "conditions", "recentEvents"})) {
    auto& o = s.status;
    if (const json* arr = d.array(st, "observedPolicies", path, 64)) {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        std::string p = Decoder::idx("status.observedPolicies", i);
        if (!d.object((*arr)[i], p, {"name", "generation"})) continue;
        ObservedPolicy op;
        d.string((*arr)[i], "name", p, op.name, true);
        d.integer((*arr)[i], "generation", p, op.generation, 0, INT64_MAX);
        o.observedPolicies.push_back(op);
      }
    }
    const json& k = Decoder::get(st, "kernel");
    if (d.object(k, "status.kernel", {"release", "schedExt", "btf", "features"})) {
      d.string(k, "release", "status.kernel", o.kernel.release);
      d.boolean(k, "schedExt", "status.kernel", o.kernel.schedExt);
      d.boolean(k, "btf", "status.kernel", o.kernel.btf);
      d.stringList(k, "features", "status.kernel", o.kernel.features, 64, 64);
    }
    d.string(st, "policy", path, o.policy);
    d.string(st, "revision", path, o.revision);
    d.enumeration(st, "phase", path, o.phase,
                  {{"Idle", NodePhase::kIdle},
                   {"Pulling", NodePhase::kPulling},
                   {"Attaching", NodePhase::kAttaching},
                   {"Running", NodePhase::kRunning},
                   {"Restarting", NodePhase::kRestarting},
                   {"FallenBack", NodePhase::kFallenBack},
                   {"Incompatible", NodePhase::kIncompatible},
                   {"Failed", NodePhase::kFailed}});
    const json& a = Decoder::get(st, "active");
    if (d.object(a, "status.active", {"opsName", "image", "pid", "enableSeq", "since"})) {
      ActiveScheduler as;
      d.string(a, "opsName", "status.active", as.opsName);
      d.string(a, "image", "status.active", as.image);
      d.integer(a, "pid", "status.active", as.pid, 0, INT64_MAX);
      d.integer(a, "enableSeq", "status.active", as.enableSeq, 0, INT64_MAX);
      d.string(a, "since", "status.active", as.since);
      o.active = as;
    }
    d.integer(st, "restarts", path, o.restarts, 0, INT32_MAX);
    const json& le = Decoder::get(st, "lastExit");
    if (d.object(le, "status.lastExit", {"time", "kind", "kindName", "reason", "message"})) {
      ExitRecord e;
      d.string(le, "time", "status.lastExit", e.time);
      d.integer(le, "kind", "status.lastExit", e.kind, 0, INT32_MAX);
      d.string(le, "kindName", "status.lastExit", e.kindName);
      d.string(le, "reason", "status.lastExit", e.reason);
      d.string(le, "message", "status.lastExit", e.message);
      o.lastExit = e;
    }
    decodeConditions(d, st, "conditions", path, o.conditions);
    if (const json* arr = d.array(st, "recentEvents", path, kMaxRecentEvents)) {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        std::string p = Decoder::idx("status.recentEvents", i);
        if (!d.object((*arr)[i], p, {"time", "type", "reason", "message"})) continue;
        NodeEvent ev;
        d.string((*arr)[i], "time", p, ev.time);
        d.string((*arr)[i], "type", p, ev.type);
        d.string((*arr)[i], "reason", p, ev.reason);
        d.string((*arr)[i], "message", p, ev.message);
        o.recentEvents.push_back(ev);
      }
    }
  }
  if (!d.ok()) return d.status();
  return s;
}

Result<std::vector<SchedulerPolicy>> parsePolicies(std::string_view content,
                                                   const DecodeOptions& opts) {
  std::vector<json> docs;
  std::string_view trimmed = content;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  if (!trimmed.empty() && (trimmed.front() == '{' || trimmed.front() == '[')) {
    json j = json::parse(content, nullptr, false);
    if (j.is_discarded()) return invalidArgument("not valid JSON");
    if (j.is_array()) {
      for (auto& e : j) docs.push_back(std::move(e));
    } else {
      docs.push_back(std::move(j));
    }
  } else {
    SK_ASSIGN_OR_RETURN(docs, yamlToJson(content));
  }
  std::vector<SchedulerPolicy> out;
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    std::vector<json> items;
    const json& doc = docs[i];
    std::string kind = doc.is_object() && doc.contains("kind") && doc["kind"].is_string()
                           ? doc["kind"].get<std::string>()
                           : "";
    if ((kind == "List" || kind == "SchedulerPolicyList") && doc.contains("items") &&
        doc["items"].is_array()) {
      for (const auto& it : doc["items"]) items.push_back(it);
    } else {
      items.push_back(doc);
    }
    for (std::size_t k = 0; k < items.size(); ++k) {
      auto p = decodePolicy(items[k], opts);
      if (!p.isOk()) {
        std::string where = "document " + std::to_string(i + 1);
        if (items.size() > 1) where += " item " + std::to_string(k + 1);
        errors.push_back(p.status().withContext(where).message());
        continue;
      }
      out.push_back(std::move(p).value());
    }
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
    return invalidArgument(all);
  }
  std::set<std::string> names;
  for (const auto& p : out) {
    if (!names.insert(p.metadata.name).second) {
      return invalidArgument("SchedulerPolicy " + quote(p.metadata.name) + " is defined twice");
    }
  }
  return out;
}

}  // namespace schedkit::policy
