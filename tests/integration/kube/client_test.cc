// kube::Client against the real kube-apiserver + etcd of hack/testenv, with schedkit's own CRDs
// (applied by up.sh) encoded and decoded by lib/policy.

#include "schedkit/kube/client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "kube_helpers.h"
#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"

namespace schedkit::kube {
namespace {

using testenv::eventually;
using testenv::KubeTestenv;
using testenv::RealKube;
using testenv::report;
using testenv::uniqueName;
using namespace std::chrono_literals;

const policy::DecodeOptions kFromServer{.rejectUnknownFields = false};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

policy::SchedulerPolicy samplePolicy(const std::string& name) {
  auto ps = policy::parsePolicies(
      slurp(std::string(SCHEDKIT_SOURCE_DIR) + "/crds/samples/latency-lavd.yaml"));
  EXPECT_TRUE(ps.isOk()) << ps.status().toString();
  policy::SchedulerPolicy p = ps->at(0);
  p.metadata.name = name;
  return p;
}

void ensureNamespace(Client& c, const std::string& ns) {
  auto r = c.create(resources::kNamespaces, "", {{"metadata", {{"name", ns}}}});
  ASSERT_TRUE(r.isOk() || isAlreadyExists(r.status())) << r.status().toString();
}

class KubeClientIT : public ::testing::Test {
 protected:
  RealKube real;
  std::unique_ptr<Client> c = real.admin();
};

TEST_F(KubeClientIT, LoadsTheTestenvKubeconfig) {
  auto kc = real.fromKubeconfig(KubeTestenv::get().var("KUBECONFIG"));
  ASSERT_NE(kc, nullptr);
  auto v = kc->raw("GET", "/version");
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_EQ(v->status, 200);
  EXPECT_EQ(Json::parse(v->body)["gitVersion"], KubeTestenv::get().var("KUBE_VERSION"));
  auto ready = kc->raw("GET", "/readyz");
  ASSERT_TRUE(ready.isOk());
  EXPECT_EQ(ready->body, "ok");
}

TEST_F(KubeClientIT, SchedulerPolicyCrudAndStatus) {
  const std::string name = uniqueName("sp-crud");
  policy::SchedulerPolicy p = samplePolicy(name);
  auto created = c->create(resources::kSchedulerPolicies, "", policy::encodePolicy(p),
                           {.fieldManager = "schedkit-it"});
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  auto decoded = policy::decodePolicy(*created, kFromServer);
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(decoded->spec, p.spec);  // defaults agree with the CRD's
  EXPECT_EQ(decoded->metadata.generation, 1);
  EXPECT_FALSE(decoded->metadata.uid.empty());

  EXPECT_TRUE(isAlreadyExists(
      c->create(resources::kSchedulerPolicies, "", policy::encodePolicy(p)).status()));

  // Update with the current resourceVersion; a stale one conflicts.
  Json stale = *created;
  Json changed = *created;
  changed["spec"]["priority"] = 200;
  auto updated = c->update(resources::kSchedulerPolicies, changed);
  ASSERT_TRUE(updated.isOk()) << updated.status().toString();
  EXPECT_EQ(policy::decodePolicy(*updated, kFromServer)->spec.priority, 200);
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);
  stale["spec"]["priority"] = 300;
  auto conflict = c->update(resources::kSchedulerPolicies, stale);
  EXPECT_TRUE(isConflict(conflict.status())) << conflict.status().toString();
  EXPECT_NE(conflict.status().message().find("Conflict (409)"), std::string::npos);

  // The status subresource: written separately, does not bump generation, ignores spec.
  policy::SchedulerPolicy withStatus = *policy::decodePolicy(*updated, kFromServer);
  withStatus.status.observedGeneration = 2;
  withStatus.status.resolvedImage =
      "registry.example.com/scx/scx_lavd@sha256:" + std::string(64, 'a');
  withStatus.status.nodes.matched = 3;
  withStatus.status.nodes.attached = 2;
  withStatus.status.conditions.push_back({.type = "Ready",
                                          .status = "True",
                                          .observedGeneration = 2,
                                          .lastTransitionTime = "2026-11-26T05:00:00Z",
                                          .reason = "Attached",
                                          .message = "2 of 3 nodes"});
  Json st = policy::encodePolicy(withStatus);
  st["metadata"]["resourceVersion"] = (*updated)["metadata"]["resourceVersion"];
  st["spec"]["priority"] = 999;  // ignored by /status
  auto su = c->updateStatus(resources::kSchedulerPolicies, st);
  ASSERT_TRUE(su.isOk()) << su.status().toString();
  auto got = c->get(resources::kSchedulerPolicies, "", name);
  ASSERT_TRUE(got.isOk());
  auto gp = policy::decodePolicy(*got, kFromServer);
  ASSERT_TRUE(gp.isOk()) << gp.status().toString();
  EXPECT_EQ(gp->spec.priority, 200);
  EXPECT_EQ(gp->metadata.generation, 2);
  EXPECT_EQ(gp->status.nodes.attached, 2);
  ASSERT_EQ(gp->status.conditions.size(), 1u);
  EXPECT_EQ(gp->status.conditions[0].reason, "Attached");

  // Merge patch of the status subresource.
  auto patched = c->patch(resources::kSchedulerPolicies, "", name, PatchType::kMerge,
                          {{"status", {{"nodes", {{"fallenBack", 1}}}}}}, {}, "status");
  ASSERT_TRUE(patched.isOk()) << patched.status().toString();
  EXPECT_EQ((*patched)["status"]["nodes"]["fallenBack"], 1);
  EXPECT_EQ((*patched)["status"]["nodes"]["attached"], 2);

  ASSERT_TRUE(c->remove(resources::kSchedulerPolicies, "", name).isOk());
  EXPECT_TRUE(isNotFound(c->get(resources::kSchedulerPolicies, "", name).status()));
  EXPECT_TRUE(isNotFound(c->remove(resources::kSchedulerPolicies, "", name)));
}

TEST_F(KubeClientIT, InvalidObjectsAreRejectedWithTheServersReasons) {
  Json bad = policy::encodePolicy(samplePolicy(uniqueName("sp-bad")));
  bad["spec"]["mode"] = "Sideways";
  auto r = c->create(resources::kSchedulerPolicies, "", bad);
  ASSERT_TRUE(isInvalid(r.status())) << r.status().toString();
  EXPECT_NE(r.status().message().find("spec.mode"), std::string::npos) << r.status().toString();
  EXPECT_NE(r.status().message().find("Invalid (422)"), std::string::npos);
}

TEST_F(KubeClientIT, SchedulerNodeStateServerSideApplyAndStatus) {
  const std::string node = uniqueName("node");
  policy::SchedulerNodeState sns;
  sns.metadata.name = node;
  sns.nodeName = node;
  Json body = policy::encodeNodeState(sns);
  body.erase("status");
  auto applied =
      c->apply(resources::kSchedulerNodeStates, body, {.fieldManager = "schedkit-agent"});
  ASSERT_TRUE(applied.isOk()) << applied.status().toString();

  sns.status.phase = policy::NodePhase::kRunning;
  sns.status.policy = "latency-lavd";
  sns.status.kernel = {.release = "6.18.15", .schedExt = true, .btf = true, .features = {"events"}};
  sns.status.active = policy::ActiveScheduler{.opsName = "lavd_1.0.6",
                                              .image = "img",
                                              .pid = 42,
                                              .enableSeq = 7,
                                              .since = "2026-11-26T05:00:00Z"};
  Json st = {{"metadata", {{"name", node}}}, {"status", policy::encodeNodeStateStatus(sns.status)}};
  auto sa = c->applyStatus(resources::kSchedulerNodeStates, st,
                           {.fieldManager = "schedkit-agent", .force = true});
  ASSERT_TRUE(sa.isOk()) << sa.status().toString();
  auto got = c->get(resources::kSchedulerNodeStates, "", node);
  ASSERT_TRUE(got.isOk());
  auto decoded = policy::decodeNodeState(*got, kFromServer);
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(decoded->status.phase, policy::NodePhase::kRunning);
  EXPECT_EQ(decoded->status.active->pid, 42);
  EXPECT_EQ(decoded->status.kernel.release, "6.18.15");
  // The field manager owns what it applied, in the object and in its status.
  bool spec_owned = false, status_owned = false;
  for (const auto& mf : (*got)["metadata"]["managedFields"]) {
    if (mf["manager"] != "schedkit-agent") continue;
    if (mf.value("subresource", "") == "status") status_owned = true;
    if (mf.value("subresource", "") == "") spec_owned = true;
  }
  EXPECT_TRUE(spec_owned);
  EXPECT_TRUE(status_owned);
  ASSERT_TRUE(c->remove(resources::kSchedulerNodeStates, "", node).isOk());
}

TEST_F(KubeClientIT, ServerSideApplyConflictsBetweenManagersUnlessForced) {
  ensureNamespace(*c, "schedkit-it");
  const std::string name = uniqueName("ssa");
  Json a = {{"metadata", {{"name", name}, {"namespace", "schedkit-it"}}},
            {"data", {{"owner", "a"}, {"a-only", "1"}}}};
  ASSERT_TRUE(c->apply(resources::kConfigMaps, a, {.fieldManager = "manager-a"}).isOk());
  Json b = {{"metadata", {{"name", name}, {"namespace", "schedkit-it"}}},
            {"data", {{"owner", "b"}}}};
  auto conflict = c->apply(resources::kConfigMaps, b, {.fieldManager = "manager-b"});
  ASSERT_TRUE(isConflict(conflict.status())) << conflict.status().toString();
  EXPECT_NE(conflict.status().message().find("manager-a"), std::string::npos);
  auto forced = c->apply(resources::kConfigMaps, b, {.fieldManager = "manager-b", .force = true});
  ASSERT_TRUE(forced.isOk()) << forced.status().toString();
  EXPECT_EQ((*forced)["data"]["owner"], "b");
  EXPECT_EQ((*forced)["data"]["a-only"], "1");  // still manager-a's
  // Dry run changes nothing.
  Json dry = {{"metadata", {{"name", name}, {"namespace", "schedkit-it"}}},
              {"data", {{"owner", "b"}, {"dry", "yes"}}}};
  ASSERT_TRUE(
      c->apply(resources::kConfigMaps, dry, {.fieldManager = "manager-b", .dryRun = true}).isOk());
  EXPECT_FALSE((*c->get(resources::kConfigMaps, "schedkit-it", name))["data"].contains("dry"));
  EXPECT_TRUE(c->remove(resources::kConfigMaps, "schedkit-it", name).isOk());
}

// Two writers race on one object; each increments a counter 20 times through
// retryOnConflict. Every increment lands exactly once.
TEST_F(KubeClientIT, ConflictRetryHelperLosesNoUpdates) {
  ensureNamespace(*c, "schedkit-it");
  const std::string name = uniqueName("race");
  ASSERT_TRUE(c->create(resources::kConfigMaps, "schedkit-it",
                        {{"metadata", {{"name", name}}}, {"data", {{"n", "0"}}}})
                  .isOk());
  std::atomic<int> mutations{0};
  auto writer = [&] {
    auto mine = real.admin();
    for (int i = 0; i < 20; ++i) {
      RetryOnConflictOptions o;
      o.maxAttempts = 50;
      auto r = mine->retryOnConflict(
          resources::kConfigMaps, "schedkit-it", name,
          [&](Json& cm) {
            ++mutations;
            int n = std::stoi(cm["data"]["n"].get<std::string>());
            cm["data"]["n"] = std::to_string(n + 1);
            return Status::ok();
          },
          o);
      ASSERT_TRUE(r.isOk()) << r.status().toString();
    }
  };
  std::thread t1(writer), t2(writer);
  t1.join();
  t2.join();
  auto got = c->get(resources::kConfigMaps, "schedkit-it", name);
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ((*got)["data"]["n"], "40");
  report("conflict retries in a 2-writer race of 40 updates", mutations.load() - 40, "retries");
  EXPECT_TRUE(c->remove(resources::kConfigMaps, "schedkit-it", name).isOk());
}

TEST_F(KubeClientIT, ListPaginatesWithContinueTokens) {
  const std::string ns = uniqueName("pages");
  ensureNamespace(*c, ns);
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(c->create(resources::kConfigMaps, ns,
                          {{"metadata",
                            {{"name", "cm-" + std::to_string(i)},
                             {"labels", {{"schedkit.io/test", "pages"}}}}}})
                    .isOk());
  }
  // One unlabelled object the selector must skip.
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, {{"metadata", {{"name", "other"}}}}).isOk());
  auto first =
      c->list(resources::kConfigMaps, ns, {.labelSelector = "schedkit.io/test=pages", .limit = 10});
  ASSERT_TRUE(first.isOk()) << first.status().toString();
  EXPECT_EQ(first->items.size(), 10u);
  EXPECT_FALSE(first->continueToken.empty());
  EXPECT_EQ(first->items[0]["kind"], "ConfigMap");
  auto before = c->stats().requests;
  auto all =
      c->listAll(resources::kConfigMaps, ns, {.labelSelector = "schedkit.io/test=pages"}, 10);
  ASSERT_TRUE(all.isOk()) << all.status().toString();
  EXPECT_EQ(all->items.size(), 25u);
  EXPECT_EQ(c->stats().requests - before, 3u);
  EXPECT_FALSE(all->resourceVersion.empty());
  auto by_field = c->list(resources::kConfigMaps, ns, {.fieldSelector = "metadata.name=cm-7"});
  ASSERT_TRUE(by_field.isOk());
  ASSERT_EQ(by_field->items.size(), 1u);
  EXPECT_EQ(objectKey(by_field->items[0]), ns + "/cm-7");
}

// Node credentials (CN=system:node:NAME, O=system:nodes) under the Node authorizer: the agent's
// own Node only.
TEST_F(KubeClientIT, NodeCredentialsReachOnlyTheirOwnNode) {
  const std::string me = uniqueName("node-me");
  const std::string other = uniqueName("node-other");
  for (const auto& n : {me, other}) {
    auto r = c->create(resources::kNodes, "", {{"metadata", {{"name", n}}}});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  auto node = real.fromKubeconfig(KubeTestenv::get().kubeconfig("--node " + me));
  ASSERT_NE(node, nullptr);
  auto own = node->get(resources::kNodes, "", me);
  ASSERT_TRUE(own.isOk()) << own.status().toString();
  EXPECT_EQ(objectKey(*own), me);
  auto theirs = node->get(resources::kNodes, "", other);
  EXPECT_TRUE(isForbidden(theirs.status())) << theirs.status().toString();
  EXPECT_NE(theirs.status().message().find("Forbidden (403)"), std::string::npos);
  auto all = node->list(resources::kNodes, "");
  EXPECT_TRUE(isForbidden(all.status())) << all.status().toString();
  // The node may label itself.
  auto labelled = node->patch(resources::kNodes, "", me, PatchType::kStrategicMerge,
                              {{"metadata", {{"labels", {{"schedkit.io/test", "yes"}}}}}});
  EXPECT_TRUE(labelled.isOk()) << labelled.status().toString();
  for (const auto& n : {me, other}) EXPECT_TRUE(c->remove(resources::kNodes, "", n).isOk());
}

// A bound service-account token, given as a file (as in-cluster), authenticates.
TEST_F(KubeClientIT, ServiceAccountTokenFile) {
  auto kc = kube::loadKubeconfig(
      real.fs, KubeTestenv::get().kubeconfig("--serviceaccount schedkit-it/agent --create"));
  ASSERT_TRUE(kc.isOk()) << kc.status().toString();
  ASSERT_FALSE(kc->token.empty());
  std::string file = KubeTestenv::get().dir() + "/sa-token-" + std::to_string(::getpid());
  std::ofstream(file) << kc->token << "\n";
  kc->tokenFile = file;
  kc->token.clear();
  auto sa = real.make(*kc, RealKube::fast());
  auto who = sa->raw("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                     R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                     "application/json");
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  ASSERT_EQ(who->status, 201) << who->body;
  EXPECT_EQ(Json::parse(who->body)["status"]["userInfo"]["username"],
            "system:serviceaccount:schedkit-it:agent");
  // A garbage token is refused: 401 → the file is read again → still refused.
  std::ofstream(file) << "not-a-token\n";
  kube::Config bad = *kc;
  auto badc = real.make(bad, RealKube::fast());
  auto denied = badc->get(resources::kNamespaces, "", "default");
  EXPECT_TRUE(isForbidden(denied.status())) << denied.status().toString();
  EXPECT_NE(denied.status().message().find("Unauthorized (401)"), std::string::npos);
  std::remove(file.c_str());
}

TEST_F(KubeClientIT, ClientSideRateLimitHoldsQpsAfterTheBurst) {
  kube::ClientOptions o;
  o.qps = 20;
  o.burst = 10;
  auto limited = real.admin(o);
  auto start = std::chrono::steady_clock::now();
  const int n = 50;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(limited->raw("GET", "/version").isOk());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // 10 free, then 40 at 20/s: about 2 s.
  EXPECT_GE(secs, 1.9);
  EXPECT_LT(secs, 6.0);
  report("50 GETs at qps=20 burst=10", secs, "s");
  report("rate after the burst", (n - 10) / (secs), "requests/s");
  EXPECT_GE(limited->stats().throttled, 30u);  // the burst refills a little as it goes
}

TEST_F(KubeClientIT, UnlimitedRequestLatency) {
  auto before = std::chrono::steady_clock::now();
  const int n = 200;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(c->get(resources::kNamespaces, "", "default").isOk());
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count();
  report("GET namespace, sequential, keep-alive", ms / n, "ms/request");
}

}  // namespace
}  // namespace schedkit::kube
