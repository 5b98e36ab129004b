#include "schedkit/policy/resolve.h"

#include <gtest/gtest.h>

#include <set>

namespace schedkit::policy {
namespace {

SchedulerPolicy policy(const std::string& name, int priority, Labels selectorLabels = {},
                       const std::string& hostPath = "/usr/bin/scx_rusty") {
  SchedulerPolicy p;
  p.metadata.name = name;
  p.metadata.uid = "uid-" + name;
  p.spec.priority = priority;
  p.spec.scheduler.hostPath = hostPath;
  p.spec.nodeSelector.matchLabels = std::move(selectorLabels);
  return p;
}

std::vector<std::string> names(const std::vector<SchedulerPolicy>& ps,
                               const std::vector<std::size_t>& idx) {
  std::vector<std::string> out;
  for (auto i : idx) out.push_back(ps[i].metadata.name);
  return out;
}

const Labels kNode = {{"schedkit.io/pool", "latency"}};

TEST(ResolveTest, NoPoliciesNoWinner) {
  auto r = resolve({}, kNode);
  EXPECT_FALSE(r.winner.has_value());
  EXPECT_FALSE(r.conflict());
}

TEST(ResolveTest, NonMatchingPolicyIgnored) {
  std::vector<SchedulerPolicy> ps = {policy("batch", 10, {{"schedkit.io/pool", "batch"}})};
  EXPECT_FALSE(resolve(ps, kNode).winner.has_value());
}

TEST(ResolveTest, HighestPriorityWins) {
  std::vector<SchedulerPolicy> ps = {policy("a-low", 1), policy("z-high", 50, kNode),
                                     policy("m-mid", 10)};
  auto r = resolve(ps, kNode);
  ASSERT_TRUE(r.winner.has_value());
  EXPECT_EQ(ps[*r.winner].metadata.name, "z-high");
  EXPECT_EQ(names(ps, r.matched), (std::vector<std::string>{"z-high", "m-mid", "a-low"}));
  EXPECT_FALSE(r.conflict());
}

TEST(ResolveTest, TieGoesToLexicalNameAndBothConflict) {
  std::vector<SchedulerPolicy> ps = {policy("zeta", 100), policy("alpha", 100), policy("low", 5)};
  auto r = resolve(ps, kNode);
  ASSERT_TRUE(r.winner.has_value());
  EXPECT_EQ(ps[*r.winner].metadata.name, "alpha");
  ASSERT_TRUE(r.conflict());
  EXPECT_EQ(names(ps, r.conflicting), (std::vector<std::string>{"alpha", "zeta"}));
}

TEST(ResolveTest, TieBelowTheTopIsNotAConflict) {
  std::vector<SchedulerPolicy> ps = {policy("top", 9), policy("b", 1), policy("a", 1)};
  auto r = resolve(ps, kNode);
  EXPECT_EQ(ps[*r.winner].metadata.name, "top");
  EXPECT_FALSE(r.conflict());
}

TEST(ResolveTest, ResultIndependentOfInputOrder) {
  std::vector<SchedulerPolicy> ps = {policy("b", 3), policy("a", 3), policy("c", 2)};
  std::vector<SchedulerPolicy> rev(ps.rbegin(), ps.rend());
  EXPECT_EQ(ps[*resolve(ps, kNode).winner].metadata.name,
            rev[*resolve(rev, kNode).winner].metadata.name);
}

TEST(ResolveTest, PausedAndDeletingPoliciesStepAside) {
  auto paused = policy("paused", 100);
  paused.spec.paused = true;
  auto deleting = policy("deleting", 90);
  deleting.metadata.deletionTimestamp = "2026-11-26T00:00:00Z";
  std::vector<SchedulerPolicy> ps = {paused, deleting, policy("fallback", 1)};
  auto r = resolve(ps, kNode);
  EXPECT_EQ(ps[*r.winner].metadata.name, "fallback");
  EXPECT_EQ(r.matched.size(), 1u);
}

TEST(RevisionTest, CoversWhatRunsOnly) {
  auto base = policy("p", 1).spec;
  std::string rev = revisionOf(base);
  EXPECT_EQ(rev.size(), 16u);
  EXPECT_EQ(revisionOf(base), rev);  // deterministic

  auto same = base;
  same.priority = 99;
  same.nodeSelector.matchLabels["x"] = "y";
  same.rollout.strategy = RolloutStrategy::kCanary;
  same.failurePolicy.maxRestarts = 9;
  same.health.startupTimeout = std::chrono::seconds(99);
  same.paused = true;
  EXPECT_EQ(revisionOf(same), rev);

  auto changed = [&](auto mutate) {
    auto s = base;
    mutate(s);
    return revisionOf(s);
  };
  std::set<std::string> revs = {rev};
  revs.insert(changed([](auto& s) { s.scheduler.args = {"--fast"}; }));
  revs.insert(changed([](auto& s) { s.scheduler.args = {"--fast", ""}; }));
  revs.insert(changed([](auto& s) { s.scheduler.env = {{"A", "1"}}; }));
  revs.insert(changed([](auto& s) { s.mode = SchedulerMode::kPartial; }));
  revs.insert(changed([](auto& s) { s.scheduler.hostPath = "/usr/bin/scx_lavd"; }));
  revs.insert(changed([](auto& s) { s.scheduler.type = SchedulerType::kBpfObject; }));
  revs.insert(changed([](auto& s) {
    s.scheduler.hostPath.clear();
    s.scheduler.image = "/usr/bin/scx_rusty";
  }));
  EXPECT_EQ(revs.size(), 8u);
}

TEST(RevisionTest, EnvOrderDoesNotMatterButArgOrderDoes) {
  auto a = policy("p", 1).spec;
  a.scheduler.env = {{"A", "1"}, {"B", "2"}};
  auto b = a;
  b.scheduler.env = {{"B", "2"}, {"A", "1"}};
  EXPECT_EQ(revisionOf(a), revisionOf(b));
  a.scheduler.args = {"x", "y"};
  b.scheduler.args = {"y", "x"};
  EXPECT_NE(revisionOf(a), revisionOf(b));
  // Field boundaries are unambiguous.
  auto c = policy("p", 1).spec, d = c;
  c.scheduler.args = {"ab", "c"};
  d.scheduler.args = {"a", "bc"};
  EXPECT_NE(revisionOf(c), revisionOf(d));
}

TEST(NodeBucketTest, StableInRangeAndSpread) {
  EXPECT_EQ(nodeBucket("node-a", "uid-1"), nodeBucket("node-a", "uid-1"));
  EXPECT_NE(nodeBucket("node-a", "uid-1"), nodeBucket("node-a", "uid-2"));
  // Pinned value: the operator and every agent release must agree on it.
  EXPECT_EQ(nodeBucket("node-a", "0b9c2f36-7d0e-4a57-9d7c-2d1f0b3c9e11"),
            nodeBucket(std::string("node-") + "a", "0b9c2f36-7d0e-4a57-9d7c-2d1f0b3c9e11"));
  std::vector<int> deciles(10, 0);
  for (int i = 0; i < 10000; ++i) {
    auto b = nodeBucket("node-" + std::to_string(i), "uid-x");
    ASSERT_LT(b, kBucketCount);
    deciles[b / 1000]++;
  }
  for (int d : deciles) {
    EXPECT_GT(d, 850);
    EXPECT_LT(d, 1150);
  }
}

TEST(DesiredRevisionTest, ImmediateRunsCurrent) {
  auto p = policy("p", 1);
  auto d = desiredRevision(p, "node-a");
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->current);
  EXPECT_EQ(d->spec.revision, revisionOf(p.spec));
}

TEST(DesiredRevisionTest, CanaryAdmitsOnlyBucketsBelowTheMark) {
  auto p = policy("p", 1);
  p.spec.rollout.strategy = RolloutStrategy::kCanary;
  RevisionSpec stable;
  stable.revision = "stable-rev";
  stable.hostPath = "/usr/bin/old";
  p.status.rollout = RolloutStatus{revisionOf(p.spec), RolloutPhase::kProgressing, 0, stable};

  std::string admitted, held;
  for (int i = 0; i < 100 && (admitted.empty() || held.empty()); ++i) {
    std::string n = "node-" + std::to_string(i);
    (nodeBucket(n, p.metadata.uid) < 5000 ? admitted : held) = n;
  }
  p.status.rollout->admittedBelow = 5000;
  auto a = desiredRevision(p, admitted);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->current);
  auto h = desiredRevision(p, held);
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->current);
  EXPECT_EQ(h->spec.hostPath, "/usr/bin/old");

  // Rollback: admittedBelow 0 sends everyone to stable.
  p.status.rollout->admittedBelow = 0;
  EXPECT_FALSE(desiredRevision(p, admitted)->current);
  // A status for an older revision admits nobody to the new spec.
  p.status.rollout->admittedBelow = 10000;
  p.status.rollout->revision = "something-else";
  EXPECT_FALSE(desiredRevision(p, admitted)->current);
}

TEST(DesiredRevisionTest, FirstCanaryRolloutRunsNothingUntilAdmitted) {
  auto p = policy("p", 1);
  p.spec.rollout.strategy = RolloutStrategy::kCanary;
  EXPECT_FALSE(desiredRevision(p, "node-a").has_value());
  p.status.rollout = RolloutStatus{revisionOf(p.spec), RolloutPhase::kProgressing, 10000, std::nullopt};
  EXPECT_TRUE(desiredRevision(p, "node-a").has_value());
}

// Immediate under an operator: the rollout status gates it like a canary once a stable revision
// exists, so maxUnavailable holds; without one there is nothing to protect.
TEST(DesiredRevisionTest, ImmediateFollowsTheRolloutOnceAStableRevisionExists) {
  auto p = policy("p", 1);
  RevisionSpec stable;
  stable.revision = "stable-rev";
  stable.hostPath = "/usr/bin/old";
  std::string admitted, held;
  for (int i = 0; i < 100 && (admitted.empty() || held.empty()); ++i) {
    std::string n = "node-" + std::to_string(i);
    (nodeBucket(n, p.metadata.uid) < 5000 ? admitted : held) = n;
  }
  // The operator has not seen the new revision yet: everyone stays on stable.
  p.status.rollout = RolloutStatus{"older-rev", RolloutPhase::kComplete, 10000, stable};
  EXPECT_FALSE(desiredRevision(p, admitted)->current);
  EXPECT_EQ(desiredRevision(p, admitted)->spec.hostPath, "/usr/bin/old");
  // Admitted half runs the new revision, the rest stays on stable.
  p.status.rollout = RolloutStatus{revisionOf(p.spec), RolloutPhase::kProgressing, 5000, stable};
  EXPECT_TRUE(desiredRevision(p, admitted)->current);
  EXPECT_FALSE(desiredRevision(p, held)->current);
}

TEST(DesiredRevisionTest, ImmediateFirstRolloutRunsAtOnceUnlessRolledBack) {
  auto p = policy("p", 1);
  // Another revision in the status, none stable: run the spec.
  p.status.rollout = RolloutStatus{"older-rev", RolloutPhase::kProgressing, 3, std::nullopt};
  ASSERT_TRUE(desiredRevision(p, "node-a").has_value());
  EXPECT_TRUE(desiredRevision(p, "node-a")->current);
  // This revision, admitted everywhere: run it.
  p.status.rollout = RolloutStatus{revisionOf(p.spec), RolloutPhase::kProgressing, 10000, std::nullopt};
  EXPECT_TRUE(desiredRevision(p, "node-a").has_value());
  // This revision rolled back to nothing: run nothing.
  p.status.rollout = RolloutStatus{revisionOf(p.spec), RolloutPhase::kRolledBack, 0, std::nullopt};
  EXPECT_FALSE(desiredRevision(p, "node-a").has_value());
}

TEST(ImageToRunTest, UsesThePinOnlyForTheRevisionItWasMadeFor) {
  auto p = policy("p", 1);
  p.spec.scheduler.hostPath.clear();
  p.spec.scheduler.image = "reg.test/scx/lavd:1.0";
  p.status.resolvedImage = "reg.test/scx/lavd@sha256:aaaa";
  DesiredRevision d{revisionSpecOf(p.spec), true};
  // No rollout status: the pin may belong to an older spec.
  EXPECT_EQ(imageToRun(p, d), "reg.test/scx/lavd:1.0");
  p.status.rollout = RolloutStatus{"older-rev", RolloutPhase::kComplete, 10000, std::nullopt};
  EXPECT_EQ(imageToRun(p, d), "reg.test/scx/lavd:1.0");
  p.status.rollout->revision = d.spec.revision;
  EXPECT_EQ(imageToRun(p, d), "reg.test/scx/lavd@sha256:aaaa");
  // A stable revision runs its own digest.
  RevisionSpec stable;
  stable.revision = "old";
  stable.image = "reg.test/scx/lavd@sha256:bbbb";
  EXPECT_EQ(imageToRun(p, DesiredRevision{stable, false}), "reg.test/scx/lavd@sha256:bbbb");
}

}  // namespace
}  // namespace schedkit::policy
