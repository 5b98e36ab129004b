#include "attach/attacher.h"

namespace schedkit::agent {

using nlohmann::json;

json encodeAttachment(const Attachment& a) {
  json env = json::array();
  for (const auto& e : a.spec.env) env.push_back({{"name", e.name}, {"value", e.value}});
  return {{"id", a.id},
          {"type", policy::toString(a.type)},
          {"pid", a.pid},
          {"pinPath", a.pinPath},
          {"opsName", a.opsName},
          {"logPath", a.logPath},
          {"spec",
           {{"policy", a.spec.policy},
            {"revision", a.spec.revision},
            {"type", policy::toString(a.spec.type)},
            {"path", a.spec.path},
            {"rootfs", a.spec.rootfs},
            {"args", a.spec.args},
            {"env", env},
            {"mode", policy::toString(a.spec.mode)},
            {"expectedOps", a.spec.expectedOps},
            {"image", a.spec.image}}}};
}

Result<Attachment> decodeAttachment(const json& j) {
  auto typeOf = [](const std::string& s) {
    return s == "bpf-object" ? policy::SchedulerType::kBpfObject : policy::SchedulerType::kBinary;
  };
  try {
    Attachment a;
    a.id = j.at("id").get<std::string>();
    a.type = typeOf(j.at("type").get<std::string>());
    a.pid = j.at("pid").get<std::int64_t>();
    a.pinPath = j.at("pinPath").get<std::string>();
    a.opsName = j.at("opsName").get<std::string>();
    a.logPath = j.value("logPath", std::string());
    const json& s = j.at("spec");
    a.spec.policy = s.at("policy").get<std::string>();
    a.spec.revision = s.at("revision").get<std::string>();
    a.spec.type = typeOf(s.at("type").get<std::string>());
    a.spec.path = s.at("path").get<std::string>();
    a.spec.rootfs = s.value("rootfs", std::string());
    a.spec.args = s.at("args").get<std::vector<std::string>>();
    for (const auto& e : s.at("env")) {
      a.spec.env.push_back({e.at("name").get<std::string>(), e.at("value").get<std::string>()});
    }
    a.spec.mode = s.at("mode").get<std::string>() == "Partial" ? policy::SchedulerMode::kPartial
                                                                : policy::SchedulerMode::kFull;
    a.spec.expectedOps = s.value("expectedOps", std::string());
    a.spec.image = s.value("image", std::string());
    if (a.id.empty()) return invalidArgument("attachment record without an id");
    return a;
  } catch (const json::exception& e) {
    return invalidArgument(std::string("malformed attachment record: ") + e.what());
  }
}

}  // namespace schedkit::agent
