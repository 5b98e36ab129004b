#include "node/desired.h"

#include <gtest/gtest.h>

#include "app/image_resolver.h"
#include "schedkit/policy/resolve.h"

namespace schedkit::agent {
namespace {

using policy::SchedulerType;

const policy::Labels kNode = {{"schedkit.io/pool", "vm"}};

policy::SchedulerPolicy hostPathPolicy(const std::string& path, SchedulerType type,
                                       const std::string& ops, std::vector<std::string> args = {}) {
  policy::SchedulerPolicy p;
  p.metadata.name = "p";
  p.metadata.uid = "uid-p";
  p.metadata.generation = 2;
  p.spec.scheduler.hostPath = path;
  p.spec.scheduler.type = type;
  p.spec.scheduler.opsName = ops;
  p.spec.scheduler.args = std::move(args);
  p.spec.nodeSelector.matchLabels = kNode;
  return p;
}

// The operator rolled the current revision back (admittedBelow 0): the node runs `stable`.
void rollBackTo(policy::SchedulerPolicy& p, policy::RevisionSpec stable) {
  policy::RolloutStatus ro;
  ro.revision = policy::revisionOf(p.spec);
  ro.phase = policy::RolloutPhase::kRolledBack;
  ro.admittedBelow = 0;
  ro.stable = std::move(stable);
  p.status.rollout = std::move(ro);
}

LaunchSpec launchOf(const policy::SchedulerPolicy& p) {
  DesiredResult r = computeDesired({p}, kNode, "node-a", false);
  EXPECT_TRUE(r.desired.has_value()) << r.note;
  return r.desired ? r.desired->launch : LaunchSpec{};
}

TEST(ComputeDesiredTest, TheCurrentRevisionTakesTheSpecsTypeAndOpsName) {
  auto p = hostPathPolicy("/usr/lib/x/runner", SchedulerType::kBinary, "fifo_test", {"a.bpf.o"});
  LaunchSpec l = launchOf(p);
  EXPECT_EQ(l.path, "/usr/lib/x/runner");
  EXPECT_EQ(l.type, SchedulerType::kBinary);
  EXPECT_EQ(l.expectedOps, "fifo_test");
  EXPECT_EQ(l.args, std::vector<std::string>{"a.bpf.o"});
}

// Seen in the VM node test: a policy moved from a BPF object to a binary runner, the binary
// failed, the operator rolled back, and the agent ran the stable object with the spec's "binary"
// type (crun: "open executable: Permission denied") until it fell back.
TEST(ComputeDesiredTest, ARolledBackStableOfAnotherFileTakesTheTypeOfItsOwnPath) {
  auto p = hostPathPolicy("/usr/lib/x/runner", SchedulerType::kBinary, "fifo_test", {"a.bpf.o"});
  policy::RevisionSpec stable;
  stable.revision = "stable-rev";
  stable.hostPath = "/usr/lib/x/fifo.bpf.o";
  rollBackTo(p, stable);
  LaunchSpec l = launchOf(p);
  EXPECT_EQ(l.revision, "stable-rev");
  EXPECT_EQ(l.path, "/usr/lib/x/fifo.bpf.o");
  EXPECT_EQ(l.type, SchedulerType::kBpfObject);
  EXPECT_TRUE(l.args.empty());
  EXPECT_EQ(l.expectedOps, "") << "the spec's ops name is about another scheduler";
}

TEST(ComputeDesiredTest, AStableOfTheSameFileKeepsTheSpecsTypeAndOpsName) {
  // An object without the .bpf.o suffix needs its explicit type; only the args changed.
  auto p = hostPathPolicy("/usr/lib/x/sched.o", SchedulerType::kBpfObject, "lavd", {"--new"});
  policy::RevisionSpec stable;
  stable.revision = "stable-rev";
  stable.hostPath = "/usr/lib/x/sched.o";
  stable.args = {"--old"};
  rollBackTo(p, stable);
  LaunchSpec l = launchOf(p);
  EXPECT_EQ(l.type, SchedulerType::kBpfObject);
  EXPECT_EQ(l.expectedOps, "lavd");
  EXPECT_EQ(l.args, std::vector<std::string>{"--old"});
}

TEST(ComputeDesiredTest, AStableImageIsCheckedAgainstItsOwnLabelNotTheSpecsOpsName) {
  policy::SchedulerPolicy p;
  p.metadata.name = "p";
  p.metadata.uid = "uid-p";
  p.spec.scheduler.image = "reg.test/scx/new:2";
  p.spec.scheduler.opsName = "new";
  p.spec.nodeSelector.matchLabels = kNode;
  policy::RevisionSpec stable;
  stable.revision = "stable-rev";
  stable.image = "reg.test/scx/old@sha256:" + std::string(64, 'a');
  rollBackTo(p, stable);
  DesiredResult r = computeDesired({p}, kNode, "node-a", false);
  ASSERT_TRUE(r.desired.has_value()) << r.note;
  EXPECT_EQ(r.desired->launch.image, stable.image);
  EXPECT_EQ(r.desired->launch.expectedOps, "");

  oci::PulledImage img;
  auto ref = oci::parseReference(stable.image);
  ASSERT_TRUE(ref.isOk());
  img.reference = *ref;
  img.digest = oci::Digest::of("manifest");
  img.artifact.type = oci::ArtifactType::kBpfObject;
  img.artifact.path = "/old.bpf.o";
  img.artifact.opsName = "old";
  DesiredScheduler d = *r.desired;
  applyPulledImage(img, d);
  EXPECT_EQ(d.launch.expectedOps, "old");
  EXPECT_EQ(d.launch.type, SchedulerType::kBpfObject);

  // The current revision's image: the spec's ops name wins over the label.
  p.status.rollout.reset();
  DesiredResult cur = computeDesired({p}, kNode, "node-a", false);
  ASSERT_TRUE(cur.desired.has_value()) << cur.note;
  DesiredScheduler dc = *cur.desired;
  applyPulledImage(img, dc);
  EXPECT_EQ(dc.launch.expectedOps, "new");
}

}  // namespace
}  // namespace schedkit::agent
