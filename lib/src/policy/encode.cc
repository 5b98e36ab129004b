#include "schedkit/policy/encode.h"

#include "schedkit/common/duration.h"

namespace schedkit::policy {

using nlohmann::json;

namespace {
json envList(const std::vector<EnvVar>& env) {
  json a = json::array();
  for (const auto& e : env) a.push_back({{"name", e.name}, {"value", e.value}});
  return a;
}
}  // namespace

json encodeObjectMeta(const ObjectMeta& m) {
  json j = {{"name", m.name}};
  if (!m.uid.empty()) j["uid"] = m.uid;
  if (!m.resourceVersion.empty()) j["resourceVersion"] = m.resourceVersion;
  if (m.generation != 0) j["generation"] = m.generation;
  if (!m.labels.empty()) j["labels"] = m.labels;
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  if (!m.creationTimestamp.empty()) j["creationTimestamp"] = m.creationTimestamp;
  if (!m.deletionTimestamp.empty()) j["deletionTimestamp"] = m.deletionTimestamp;
  return j;
}

json encodeLabelSelector(const LabelSelector& s) {
  json j = json::object();
  if (!s.matchLabels.empty()) j["matchLabels"] = s.matchLabels;
  if (!s.matchExpressions.empty()) {
    json a = json::array();
    for (const auto& r : s.matchExpressions) {
      json e = {{"key", r.key}, {"operator", toString(r.op)}};
      if (!r.values.empty()) e["values"] = r.values;
      a.push_back(std::move(e));
    }
    j["matchExpressions"] = std::move(a);
  }
  return j;
}

json encodeConditions(const std::vector<Condition>& cs) {
  json a = json::array();
  for (const auto& c : cs) {
    json e = {{"type", c.type}, {"status", c.status}, {"reason", c.reason}, {"message", c.message}};
    if (c.observedGeneration != 0) e["observedGeneration"] = c.observedGeneration;
    if (!c.lastTransitionTime.empty()) e["lastTransitionTime"] = c.lastTransitionTime;
    a.push_back(std::move(e));
  }
  return a;
}

json encodePolicySpec(const SchedulerPolicySpec& s) {
  const auto& sc = s.scheduler;
  json sched = json::object();
  if (!sc.image.empty()) sched["image"] = sc.image;
  if (!sc.hostPath.empty()) sched["hostPath"] = sc.hostPath;
  if (sc.type != SchedulerType::kUnspecified) sched["type"] = toString(sc.type);
  if (!sc.opsName.empty()) sched["opsName"] = sc.opsName;
  sched["imagePullPolicy"] = toString(sc.imagePullPolicy);
  if (!sc.imagePullSecrets.empty()) {
    json a = json::array();
    for (const auto& n : sc.imagePullSecrets) a.push_back({{"name", n}});
    sched["imagePullSecrets"] = std::move(a);
  }
  if (!sc.args.empty()) sched["args"] = sc.args;
  if (!sc.env.empty()) sched["env"] = envList(sc.env);
  if (sc.verify) {
    sched["verify"] = {{"publicKey",
                        {{"secretRef",
                          {{"name", sc.verify->publicKey.name}, {"key", sc.verify->publicKey.key}}}}}};
  }
  json health = {{"startupTimeout", formatDuration(s.health.startupTimeout)}};
  if (s.health.runqueueLatency) {
    health["runqueueLatency"] = {{"p99", formatDuration(s.health.runqueueLatency->p99)},
                                 {"window", formatDuration(s.health.runqueueLatency->window)}};
  }
  json rollout = {{"strategy", toString(s.rollout.strategy)},
                  {"haltOnFallbacks", s.rollout.haltOnFallbacks},
                  {"autoRollback", s.rollout.autoRollback}};
  if (s.rollout.maxUnavailable.isPercent) {
    rollout["maxUnavailable"] = s.rollout.maxUnavailable.toString();
  } else {
    rollout["maxUnavailable"] = s.rollout.maxUnavailable.value;
  }
  if (s.rollout.canary) {
    rollout["canary"] = {{"nodes", s.rollout.canary->nodes},
                         {"bakeTime", formatDuration(s.rollout.canary->bakeTime)}};
  }
  return {
      {"scheduler", std::move(sched)},
      {"nodeSelector", encodeLabelSelector(s.nodeSelector)},
      {"priority", s.priority},
      {"mode", toString(s.mode)},
      {"failurePolicy",
       {{"maxRestarts", s.failurePolicy.maxRestarts},
        {"window", formatDuration(s.failurePolicy.window)},
        {"backoff",
         {{"initial", formatDuration(s.failurePolicy.backoff.initial)},
          {"max", formatDuration(s.failurePolicy.backoff.max)}}}}},
      {"health", std::move(health)},
      {"rollout", std::move(rollout)},
      {"paused", s.paused},
  };
}

json encodePolicyStatus(const SchedulerPolicyStatus& s) {
  json j = {{"observedGeneration", s.observedGeneration},
            {"nodes",
             {{"matched", s.nodes.matched},
              {"attached", s.nodes.attached},
              {"pending", s.nodes.pending},
              {"fallenBack", s.nodes.fallenBack},
              {"incompatible", s.nodes.incompatible},
              {"conflicted", s.nodes.conflicted},
              {"failed", s.nodes.failed}}},
            {"conditions", encodeConditions(s.conditions)}};
  if (!s.resolvedImage.empty()) j["resolvedImage"] = s.resolvedImage;
  if (s.rollout) {
    json r = {{"revision", s.rollout->revision},
              {"phase", toString(s.rollout->phase)},
              {"admittedBelow", s.rollout->admittedBelow}};
    if (s.rollout->stable) {
      const auto& st = *s.rollout->stable;
      json stable = {{"revision", st.revision}, {"mode", toString(st.mode)}};
      if (!st.image.empty()) stable["image"] = st.image;
      if (!st.hostPath.empty()) stable["hostPath"] = st.hostPath;
      if (!st.args.empty()) stable["args"] = st.args;
      if (!st.env.empty()) stable["env"] = envList(st.env);
      r["stable"] = std::move(stable);
    }
    j["rollout"] = std::move(r);
  }
  if (!s.recentFallbacks.empty()) {
    json a = json::array();
    for (const auto& f : s.recentFallbacks) {
      a.push_back({{"node", f.node},
                   {"time", f.time},
                   {"exitKind", f.exitKind},
                   {"exitKindName", f.exitKindName},
                   {"reason", f.reason},
                   {"message", f.message}});
    }
    j["recentFallbacks"] = std::move(a);
  }
  return j;
}

json encodePolicy(const SchedulerPolicy& p) {
  json j = {{"apiVersion", kApiVersion},
            {"kind", kPolicyKind},
            {"metadata", encodeObjectMeta(p.metadata)},
            {"spec", encodePolicySpec(p.spec)}};
  if (!(p.status == SchedulerPolicyStatus{})) j["status"] = encodePolicyStatus(p.status);
  return j;
}

json encodeNodeStateStatus(const SchedulerNodeStateStatus& s) {
  json observed = json::array();
  for (const auto& o : s.observedPolicies) {
    observed.push_back({{"name", o.name}, {"generation", o.generation}});
  }
  json kernel = {{"release", s.kernel.release},
                 {"schedExt", s.kernel.schedExt},
                 {"btf", s.kernel.btf},
                 {"features", s.kernel.features}};
  json j = {{"observedPolicies", std::move(observed)},
            {"kernel", std::move(kernel)},
            {"policy", s.policy},
            {"revision", s.revision},
            {"phase", toString(s.phase)},
            {"restarts", s.restarts},
            {"conditions", encodeConditions(s.conditions)}};
  if (s.active) {
    j["active"] = {{"opsName", s.active->opsName},
                   {"image", s.active->image},
                   {"pid", s.active->pid},
                   {"enableSeq", s.active->enableSeq},
                   {"since", s.active->since}};
  }
  if (s.lastExit) {
    j["lastExit"] = {{"time", s.lastExit->time},
                     {"kind", s.lastExit->kind},
                     {"kindName", s.lastExit->kindName},
                     {"reason", s.lastExit->reason},
                     {"message", s.lastExit->message}};
  }
  json events = json::array();
  for (const auto& e : s.recentEvents) {
    events.push_back(
        {{"time", e.time}, {"type", e.type}, {"reason", e.reason}, {"message", e.message}});
  }
  j["recentEvents"] = std::move(events);
  return j;
}

json encodeNodeState(const SchedulerNodeState& s) {
  return {{"apiVersion", kApiVersion},
          {"kind", kNodeStateKind},
          {"metadata", encodeObjectMeta(s.metadata)},
          {"spec", {{"nodeName", s.nodeName}}},
          {"status", encodeNodeStateStatus(s.status)}};
}

}  // namespace schedkit::policy
