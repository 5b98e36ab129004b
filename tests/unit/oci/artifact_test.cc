#include "schedkit/oci/artifact.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "schedkit/oci/store.h"

namespace schedkit::oci {
namespace {

using Labels = std::map<std::string, std::string>;

Labels valid() {
  return {{"io.schedkit.scheduler.type", "binary"},
          {"io.schedkit.scheduler.path", "/usr/bin/scx_lavd"},
          {"io.schedkit.scheduler.name", "lavd"},
          {"io.schedkit.scheduler.version", "1.0.6"},
          {"io.schedkit.kernel.min", "6.12"},
          {"io.schedkit.scheduler.args", "[\"--performance\"]"}};
}

TEST(SchedulerArtifact, FromConfigLabels) {
  auto a = parseSchedulerArtifact(valid(), {});
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->type, ArtifactType::kBinary);
  EXPECT_EQ(a->path, "/usr/bin/scx_lavd");
  EXPECT_EQ(a->opsName, "lavd");
  EXPECT_EQ(a->version, "1.0.6");
  EXPECT_EQ(a->kernelMin, "6.12");
  EXPECT_EQ(a->args, std::vector<std::string>{"--performance"});
}

TEST(SchedulerArtifact, FromAnnotationsAndAgreeingBoth) {
  auto a = parseSchedulerArtifact({}, {{"io.schedkit.scheduler.type", "bpf-object"},
                                       {"io.schedkit.scheduler.path", "/sched.bpf.o"}});
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->type, ArtifactType::kBpfObject);
  EXPECT_TRUE(a->args.empty());
  EXPECT_TRUE(parseSchedulerArtifact(valid(), valid()).isOk());
}

struct BadCase {
  std::string name;
  std::string key, value;  // value "<erase>" removes the key
  std::string message;
};

class BadArtifactTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadArtifactTest, ClearError) {
  const auto& c = GetParam();
  Labels l = valid();
  if (c.value == "<erase>") {
    l.erase(c.key);
  } else {
    l[c.key] = c.value;
  }
  auto a = parseSchedulerArtifact(l, {});
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find(c.message), std::string::npos) << a.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadArtifactTest,
    ::testing::Values(
        BadCase{"type_missing", "io.schedkit.scheduler.type", "<erase>",
                "not a schedkit scheduler image"},
        BadCase{"type_unknown", "io.schedkit.scheduler.type", "kernel-module",
                "unknown type \"kernel-module\""},
        BadCase{"path_missing", "io.schedkit.scheduler.path", "<erase>",
                "io.schedkit.scheduler.path is missing"},
        BadCase{"path_relative", "io.schedkit.scheduler.path", "usr/bin/x", "not an absolute path"},
        BadCase{"path_dotdot", "io.schedkit.scheduler.path", "/a/../../etc/x", "contains \"..\""},
        BadCase{"args_not_json", "io.schedkit.scheduler.args", "--fast",
                "not a JSON array of strings"},
        BadCase{"args_object", "io.schedkit.scheduler.args", "{\"a\":1}",
                "not a JSON array of strings"},
        BadCase{"args_number", "io.schedkit.scheduler.args", "[\"a\",1]", "non-string element"},
        BadCase{"kernel_bad", "io.schedkit.kernel.min", "six", "not a kernel version"},
        BadCase{"name_slash", "io.schedkit.scheduler.name", "la/vd", "not an ops-name prefix"}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return p.param.name; });

TEST(SchedulerArtifact, ContradictoryLabelAndAnnotation) {
  auto a = parseSchedulerArtifact(valid(), {{"io.schedkit.scheduler.path", "/other"}});
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("the config label says \"/usr/bin/scx_lavd\" but the "
                                      "manifest annotation says \"/other\""),
            std::string::npos);
}

class ArtifactInRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-art-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    mkdir((root_ + "/bin").c_str(), 0755);
    std::ofstream(root_ + "/bin/sched") << "#!/bin/sh\n";
    chmod((root_ + "/bin/sched").c_str(), 0755);
    std::ofstream(root_ + "/bin/noexec") << "data";
    std::string elf(64, '\0');
    elf[0] = 0x7f, elf[1] = 'E', elf[2] = 'L', elf[3] = 'F', elf[5] = 1,
    elf[18] = static_cast<char>(247);
    std::ofstream(root_ + "/sched.bpf.o", std::ios::binary) << elf;
    symlink("/bin/sched", (root_ + "/link").c_str());
    symlink("../../etc/passwd", (root_ + "/escape").c_str());
  }
  void TearDown() override { (void)removeTree(root_); }
  std::string root_;
};

TEST_F(ArtifactInRootTest, ResolvesAndChecksKinds) {
  SchedulerArtifact bin{ArtifactType::kBinary, "/link", "", "", "", {}, ""};
  ASSERT_TRUE(checkArtifactInRoot(bin, root_).isOk());
  EXPECT_EQ(bin.hostPath, root_ + "/bin/sched");
  SchedulerArtifact obj{ArtifactType::kBpfObject, "/sched.bpf.o", "", "", "", {}, ""};
  EXPECT_TRUE(checkArtifactInRoot(obj, root_).isOk());
  SchedulerArtifact notObj{ArtifactType::kBpfObject, "/bin/sched", "", "", "", {}, ""};
  EXPECT_NE(checkArtifactInRoot(notObj, root_).message().find("not a BPF ELF object"),
            std::string::npos);
  SchedulerArtifact noexec{ArtifactType::kBinary, "/bin/noexec", "", "", "", {}, ""};
  EXPECT_NE(checkArtifactInRoot(noexec, root_).message().find("not executable"), std::string::npos);
  SchedulerArtifact missing{ArtifactType::kBinary, "/bin/nope", "", "", "", {}, ""};
  EXPECT_NE(checkArtifactInRoot(missing, root_).message().find("is not in the image filesystem"),
            std::string::npos);
  SchedulerArtifact esc{ArtifactType::kBinary, "/escape", "", "", "", {}, ""};
  EXPECT_EQ(checkArtifactInRoot(esc, root_).code(), StatusCode::kPermissionDenied);
  SchedulerArtifact dir{ArtifactType::kBinary, "/bin", "", "", "", {}, ""};
  EXPECT_NE(checkArtifactInRoot(dir, root_).message().find("not a regular file"),
            std::string::npos);
}

}  // namespace
}  // namespace schedkit::oci
