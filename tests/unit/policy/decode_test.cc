#include "schedkit/policy/decode.h"

#include <gtest/gtest.h>

#include "schedkit/policy/encode.h"

namespace schedkit::policy {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kMinimal = R"(
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: minimal}
spec:
  scheduler: {hostPath: /usr/bin/scx_rusty}
)";

SchedulerPolicy parseOne(const std::string& yaml) {
  auto r = parsePolicies(yaml);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  if (!r.isOk() || r->size() != 1) return {};
  return r->front();
}

std::string errorOf(const std::string& yaml, const DecodeOptions& o = {}) {
  auto r = parsePolicies(yaml, o);
  EXPECT_FALSE(r.isOk()) << "expected an error for:\n" << yaml;
  return r.isOk() ? "" : r.status().message();
}

TEST(DecodePolicyTest, MinimalGetsEveryDefault) {
  SchedulerPolicy p = parseOne(kMinimal);
  EXPECT_EQ(p.metadata.name, "minimal");
  EXPECT_EQ(p.spec.scheduler.hostPath, "/usr/bin/scx_rusty");
  EXPECT_EQ(p.spec.scheduler.effectiveType(), SchedulerType::kBinary);
  EXPECT_EQ(p.spec.scheduler.imagePullPolicy, PullPolicy::kIfNotPresent);
  EXPECT_EQ(p.spec.priority, 0);
  EXPECT_EQ(p.spec.mode, SchedulerMode::kFull);
  EXPECT_EQ(p.spec.failurePolicy.maxRestarts, 3);
  EXPECT_EQ(p.spec.failurePolicy.window, 10min);
  EXPECT_EQ(p.spec.failurePolicy.backoff.initial, 5s);
  EXPECT_EQ(p.spec.failurePolicy.backoff.max, 5min);
  EXPECT_EQ(p.spec.health.startupTimeout, 30s);
  EXPECT_FALSE(p.spec.health.runqueueLatency.has_value());
  EXPECT_EQ(p.spec.rollout.strategy, RolloutStrategy::kImmediate);
  EXPECT_EQ(p.spec.rollout.maxUnavailable, (IntOrPercent{true, 10}));
  EXPECT_EQ(p.spec.rollout.haltOnFallbacks, 1);
  EXPECT_TRUE(p.spec.rollout.autoRollback);
  EXPECT_FALSE(p.spec.paused);
  EXPECT_TRUE(p.spec.nodeSelector.matchLabels.empty());
}

TEST(DecodePolicyTest, FullSpecParses) {
  SchedulerPolicy p = parseOne(R"(
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: latency-lavd, labels: {team: platform}}
spec:
  scheduler:
    image: registry.example.com/scx/scx_lavd:1.0.6
    imagePullPolicy: Always
    imagePullSecrets: [{name: regcred}]
    args: ["--performance", "--slice-max-us", "5000"]
    env: [{name: SCX_TIMEOUT_MS, value: "5000"}]
    verify: {publicKey: {secretRef: {name: cosign-pub}}}
  nodeSelector:
    matchLabels: {schedkit.io/pool: latency}
    matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
  priority: 100
  mode: Partial
  failurePolicy: {maxRestarts: 5, window: 1h, backoff: {initial: 1s, max: 2m}}
  health: {startupTimeout: 45s, runqueueLatency: {p99: 20ms}}
  rollout:
    strategy: Canary
    canary: {nodes: 2, bakeTime: 15m}
    maxUnavailable: 3
    haltOnFallbacks: 0
    autoRollback: false
  paused: true
)");
  const auto& s = p.spec;
  EXPECT_EQ(s.scheduler.image, "registry.example.com/scx/scx_lavd:1.0.6");
  EXPECT_EQ(s.scheduler.imagePullPolicy, PullPolicy::kAlways);
  EXPECT_EQ(s.scheduler.imagePullSecrets, std::vector<std::string>{"regcred"});
  EXPECT_EQ(s.scheduler.args.size(), 3u);
  EXPECT_EQ(s.scheduler.env, (std::vector<EnvVar>{{"SCX_TIMEOUT_MS", "5000"}}));
  ASSERT_TRUE(s.scheduler.verify.has_value());
  EXPECT_EQ(s.scheduler.verify->publicKey.name, "cosign-pub");
  EXPECT_EQ(s.scheduler.verify->publicKey.key, "cosign.pub");
  EXPECT_EQ(s.priority, 100);
  EXPECT_EQ(s.mode, SchedulerMode::kPartial);
  EXPECT_EQ(s.failurePolicy.maxRestarts, 5);
  EXPECT_EQ(s.failurePolicy.window, 1h);
  EXPECT_EQ(s.failurePolicy.backoff.initial, 1s);
  ASSERT_TRUE(s.health.runqueueLatency.has_value());
  EXPECT_EQ(s.health.runqueueLatency->p99, 20ms);
  EXPECT_EQ(s.health.runqueueLatency->window, 60s);
  EXPECT_EQ(s.rollout.strategy, RolloutStrategy::kCanary);
  ASSERT_TRUE(s.rollout.canary.has_value());
  EXPECT_EQ(s.rollout.canary->nodes, 2);
  EXPECT_EQ(s.rollout.maxUnavailable, (IntOrPercent{false, 3}));
  EXPECT_EQ(s.rollout.haltOnFallbacks, 0);
  EXPECT_FALSE(s.rollout.autoRollback);
  EXPECT_TRUE(s.paused);
  EXPECT_EQ(p.metadata.labels.at("team"), "platform");
}

struct BadCase {
  const char* name;
  const char* specYaml;  // placed under `spec:` (indented by the test)
  const char* want;
};

class DecodeErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(DecodeErrors, PathQualifiedMessage) {
  std::string doc =
      "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: p}\nspec:\n";
  std::string spec = GetParam().specYaml;
  std::size_t pos = 0;
  std::string indented = "  ";
  for (char c : spec) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  (void)pos;
  doc += indented + "\n";
  std::string msg = errorOf(doc);
  EXPECT_NE(msg.find(GetParam().want), std::string::npos) << "got: " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DecodeErrors,
    ::testing::Values(
        BadCase{"both", "scheduler: {image: a/b:1, hostPath: /x}",
                "spec.scheduler: exactly one of spec.scheduler.image or spec.scheduler.hostPath must be set"},
        BadCase{"neither", "scheduler: {args: [x]}",
                "exactly one of spec.scheduler.image or spec.scheduler.hostPath must be set"},
        BadCase{"no scheduler", "priority: 1", "spec.scheduler: required"},
        BadCase{"relative hostPath", "scheduler: {hostPath: bin/scx}",
                "spec.scheduler.hostPath: must be an absolute path"},
        BadCase{"dotdot hostPath", "scheduler: {hostPath: /usr/../etc/x}",
                "spec.scheduler.hostPath: must not contain \"..\""},
        BadCase{"type with image", "scheduler: {image: a/b:1, type: binary}",
                "spec.scheduler.type: is only allowed with hostPath"},
        BadCase{"bad type", "scheduler: {hostPath: /x, type: elf}",
                "spec.scheduler.type: unsupported value \"elf\""},
        BadCase{"verify with hostPath",
                "scheduler: {hostPath: /x, verify: {publicKey: {secretRef: {name: k}}}}",
                "spec.scheduler.verify: is only allowed with image"},
        BadCase{"pull secrets with hostPath", "scheduler: {hostPath: /x, imagePullSecrets: [{name: a}]}",
                "spec.scheduler.imagePullSecrets: is only allowed with image"},
        BadCase{"pull policy", "scheduler: {image: a/b:1, imagePullPolicy: Sometimes}",
                "spec.scheduler.imagePullPolicy: unsupported value \"Sometimes\": supported values: "
                "\"IfNotPresent\", \"Always\", \"Never\""},
        BadCase{"env name dash", "scheduler: {hostPath: /x, env: [{name: SCX-TIMEOUT, value: '1'}]}",
                "spec.scheduler.env[0].name: invalid environment variable name \"SCX-TIMEOUT\""},
        BadCase{"env duplicate",
                "scheduler: {hostPath: /x, env: [{name: A, value: '1'}, {name: A, value: '2'}]}",
                "spec.scheduler.env[1].name: duplicate environment variable \"A\""},
        BadCase{"env value number", "scheduler: {hostPath: /x, env: [{name: A, value: 5000}]}",
                "spec.scheduler.env[0].value: must be a string, not integer"},
        BadCase{"opsName chars", "scheduler: {hostPath: /x, opsName: 'lavd-1'}",
                "spec.scheduler.opsName: may contain only letters, digits"},
        BadCase{"priority negative", "scheduler: {hostPath: /x}\npriority: -1",
                "spec.priority: must be at least 0, not -1"},
        BadCase{"priority huge", "scheduler: {hostPath: /x}\npriority: 1000001",
                "spec.priority: must be at most 1000000"},
        BadCase{"priority string", "scheduler: {hostPath: /x}\npriority: high",
                "spec.priority: must be an integer, not string"},
        BadCase{"priority float", "scheduler: {hostPath: /x}\npriority: 1.5",
                "spec.priority: must be an integer, not 1.5"},
        BadCase{"mode", "scheduler: {hostPath: /x}\nmode: Half", "spec.mode: unsupported value \"Half\""},
        BadCase{"canary without Canary",
                "scheduler: {hostPath: /x}\nrollout: {strategy: Immediate, canary: {nodes: 1}}",
                "spec.rollout.canary: is only allowed with strategy Canary"},
        BadCase{"maxUnavailable words", "scheduler: {hostPath: /x}\nrollout: {maxUnavailable: ten percent}",
                "spec.rollout.maxUnavailable: must be an integer or a percentage like \"10%\""},
        BadCase{"maxUnavailable zero", "scheduler: {hostPath: /x}\nrollout: {maxUnavailable: 0}",
                "spec.rollout.maxUnavailable: must be an integer or a percentage like \"10%\""},
        BadCase{"maxUnavailable 0%", "scheduler: {hostPath: /x}\nrollout: {maxUnavailable: 0%}",
                "spec.rollout.maxUnavailable: must be an integer or a percentage"},
        BadCase{"maxUnavailable 101%", "scheduler: {hostPath: /x}\nrollout: {maxUnavailable: 101%}",
                "spec.rollout.maxUnavailable: must be an integer or a percentage"},
        BadCase{"canary nodes 0",
                "scheduler: {hostPath: /x}\nrollout: {strategy: Canary, canary: {nodes: 0}}",
                "spec.rollout.canary.nodes: must be at least 1"},
        BadCase{"backoff inverted",
                "scheduler: {hostPath: /x}\nfailurePolicy: {backoff: {initial: 10m, max: 1m}}",
                "spec.failurePolicy.backoff: initial must not be greater than max"},
        BadCase{"bad duration", "scheduler: {hostPath: /x}\nfailurePolicy: {window: 5 minutes}",
                "spec.failurePolicy.window: must be a duration like \"30s\""},
        BadCase{"zero startup", "scheduler: {hostPath: /x}\nhealth: {startupTimeout: 0s}",
                "spec.health.startupTimeout: must be greater than zero"},
        BadCase{"rql needs p99", "scheduler: {hostPath: /x}\nhealth: {runqueueLatency: {window: 1m}}",
                "spec.health.runqueueLatency.p99: required"},
        BadCase{"maxRestarts", "scheduler: {hostPath: /x}\nfailurePolicy: {maxRestarts: 101}",
                "spec.failurePolicy.maxRestarts: must be at most 100"},
        BadCase{"paused string", "scheduler: {hostPath: /x}\npaused: 'true'",
                "spec.paused: must be true or false, not string"},
        BadCase{"unknown spec field", "scheduler: {hostPath: /x}\nschedulr: {}",
                "spec.schedulr: unknown field (did you mean \"scheduler\"?)"},
        BadCase{"unknown nested field", "scheduler: {hostPath: /x, imagePullPolcy: Always}",
                "spec.scheduler.imagePullPolcy: unknown field (did you mean \"imagePullPolicy\"?)"},
        BadCase{"too many args", "scheduler: {hostPath: /x, args: [" 
                "a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,"
                "a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a]}",
                "spec.scheduler.args: must have at most 64 items, not 65"},
        BadCase{"duplicate pull secret",
                "scheduler: {image: a/b:1, imagePullSecrets: [{name: r}, {name: r}]}",
                "spec.scheduler.imagePullSecrets[1].name: duplicate pull secret \"r\""},
        BadCase{"args not list", "scheduler: {hostPath: /x, args: --fast}",
                "spec.scheduler.args: must be a list, not string"}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      for (auto& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(DecodePolicyTest, ReportsEveryProblemNotJustTheFirst) {
  std::string msg = errorOf(R"(
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: p}
spec:
  scheduler: {hostPath: /x}
  priority: -5
  mode: Sometimes
)");
  EXPECT_NE(msg.find("spec.priority"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.mode"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SchedulerPolicy \"p\""), std::string::npos) << msg;
}

TEST(DecodePolicyTest, TypeMetaAndNameChecked) {
  EXPECT_NE(errorOf("apiVersion: v1\nkind: SchedulerPolicy\nmetadata: {name: p}\nspec: {scheduler: {hostPath: /x}}")
                .find("apiVersion: must be \"schedkit.io/v1alpha1\""),
            std::string::npos);
  EXPECT_NE(errorOf("apiVersion: schedkit.io/v1alpha1\nkind: Pod\nmetadata: {name: p}\nspec: {scheduler: {hostPath: /x}}")
                .find("kind: must be \"SchedulerPolicy\""),
            std::string::npos);
  EXPECT_NE(errorOf("apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: Bad_Name}\nspec: {scheduler: {hostPath: /x}}")
                .find("metadata.name: must be a lowercase RFC 1123 subdomain"),
            std::string::npos);
  EXPECT_NE(errorOf("apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: p, namespace: default}\nspec: {scheduler: {hostPath: /x}}")
                .find("metadata.namespace: must not be set"),
            std::string::npos);
  EXPECT_NE(errorOf("apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: p}")
                .find("spec: required"),
            std::string::npos);
}

TEST(DecodePolicyTest, UnknownFieldsToleratedWhenLenient) {
  json j = {{"apiVersion", "schedkit.io/v1alpha1"},
            {"kind", "SchedulerPolicy"},
            {"metadata", {{"name", "p"}, {"managedFields", json::array()}}},
            {"spec", {{"scheduler", {{"hostPath", "/x"}}}, {"futureField", 1}}}};
  EXPECT_FALSE(decodePolicy(j).isOk());
  EXPECT_TRUE(decodePolicy(j, {.rejectUnknownFields = false}).isOk());
}

TEST(DecodePolicyTest, HostPathTypeInference) {
  SchedulerPolicy p = parseOne(
      "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: p}\n"
      "spec: {scheduler: {hostPath: /usr/lib/schedkit/fifo.bpf.o}}");
  EXPECT_EQ(p.spec.scheduler.effectiveType(), SchedulerType::kBpfObject);
  p.spec.scheduler.type = SchedulerType::kBinary;
  EXPECT_EQ(p.spec.scheduler.effectiveType(), SchedulerType::kBinary);
}

TEST(RoundTripTest, YamlToTypesToJsonToTypesIsIdentity) {
  SchedulerPolicy p = parseOne(R"(
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: rt, uid: 1234-abcd, generation: 3, resourceVersion: "77"}
spec:
  scheduler:
    image: registry.example.com/scx/scx_lavd@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    args: [--performance]
    env: [{name: SCX_TIMEOUT_MS, value: "5000"}]
  nodeSelector: {matchExpressions: [{key: pool, operator: NotIn, values: [batch]}]}
  priority: 7
  health: {runqueueLatency: {p99: 20ms, window: 90s}}
  rollout: {strategy: Canary, canary: {nodes: 3, bakeTime: 1h30m}, maxUnavailable: 25%}
status:
  observedGeneration: 3
  resolvedImage: registry.example.com/scx/scx_lavd@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  nodes: {matched: 4, attached: 3, fallenBack: 1}
  rollout:
    revision: abc
    phase: Progressing
    admittedBelow: 1234
    stable: {revision: old, image: "r/x@sha256:00", args: [a], env: [{name: B, value: c}], mode: Full}
  conditions:
  - {type: Ready, status: "False", reason: Degraded, message: one node fell back, observedGeneration: 3, lastTransitionTime: "2026-11-26T03:54:37Z"}
  recentFallbacks:
  - {node: n1, time: "2026-11-26T03:54:37Z", exitKind: 1026, exitKindName: ERROR_STALL, reason: runnable task stall, message: "x"}
)");
  json encoded = encodePolicy(p);
  auto back = decodePolicy(encoded);
  ASSERT_TRUE(back.isOk()) << back.status().toString() << "\n" << encoded.dump(2);
  EXPECT_EQ(*back, p);
  // And the encoding is stable.
  EXPECT_EQ(encodePolicy(*back), encoded);
}

TEST(RoundTripTest, NodeStateRoundTrips) {
  SchedulerNodeState s;
  s.metadata.name = "node-a";
  s.nodeName = "node-a";
  s.status.phase = NodePhase::kFallenBack;
  s.status.policy = "latency-lavd";
  s.status.revision = "0011223344556677";
  s.status.kernel = {"6.18.15+deb13-amd64", true, true, {"events", "partial"}};
  s.status.active = ActiveScheduler{"fifo_test", "", 0, 7, "2026-11-26T03:54:37Z"};
  s.status.restarts = 3;
  s.status.lastExit = ExitRecord{"2026-11-26T03:55:00Z", 1026, "ERROR_STALL", "runnable task stall",
                                 "stall_test: kworker/0:1[11] failed to run for 2.656s"};
  s.status.observedPolicies = {{"latency-lavd", 4}};
  s.status.conditions = {{"Ready", "False", 4, "2026-11-26T03:55:00Z", "FallenBack", "stall"}};
  s.status.recentEvents = {{"2026-11-26T03:55:00Z", "Warning", "FallenBack", "circuit open"}};
  auto back = decodeNodeState(encodeNodeState(s));
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, s);
}

TEST(ParsePoliciesTest, MultiDocumentsListsAndJson) {
  auto r = parsePolicies(R"(
---
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: a}
spec: {scheduler: {hostPath: /a}}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- apiVersion: schedkit.io/v1alpha1
  kind: SchedulerPolicy
  metadata: {name: b}
  spec: {scheduler: {hostPath: /b}}
)");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].metadata.name, "b");

  auto j = parsePolicies(
      R"({"apiVersion":"schedkit.io/v1alpha1","kind":"SchedulerPolicy","metadata":{"name":"j"},"spec":{"scheduler":{"hostPath":"/j"}}})");
  ASSERT_TRUE(j.isOk()) << j.status().toString();
  EXPECT_EQ(j->front().metadata.name, "j");
}

TEST(ParsePoliciesTest, ErrorsNameTheDocumentAndDuplicatesRejected) {
  auto r = parsePolicies(
      "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: a}\nspec: {scheduler: {hostPath: /a}}\n"
      "---\napiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: b}\nspec: {scheduler: {}}\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("document 2: SchedulerPolicy \"b\": spec.scheduler: exactly one"),
            std::string::npos)
      << r.status().message();
  auto dup = parsePolicies(
      "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: a}\nspec: {scheduler: {hostPath: /a}}\n"
      "---\napiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: a}\nspec: {scheduler: {hostPath: /b}}\n");
  ASSERT_FALSE(dup.isOk());
  EXPECT_NE(dup.status().message().find("\"a\" is defined twice"), std::string::npos);
  EXPECT_FALSE(parsePolicies("{not json").isOk());
}

TEST(IntOrPercentTest, ResolvesRoundingUp) {
  EXPECT_EQ((IntOrPercent{true, 10}).resolve(40), 4);
  EXPECT_EQ((IntOrPercent{true, 10}).resolve(5), 1);    // 0.5 rounds up
  EXPECT_EQ((IntOrPercent{true, 100}).resolve(7), 7);
  EXPECT_EQ((IntOrPercent{false, 3}).resolve(2), 2);    // capped at total
  EXPECT_EQ((IntOrPercent{false, 3}).resolve(0), 0);
}

}  // namespace
}  // namespace schedkit::policy
