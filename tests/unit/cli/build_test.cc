// schedkitctl image build: determinism, labels vs annotations, multi-arch, input validation, and
// the result read back through the agent's own image store.
#include "image/build.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fixed_random.h"
#include "image/layer.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "unit/cli/cli_test_util.h"

namespace schedkit::cli {
namespace {

using testing::elfObject;
using testing::fakeOpsReader;
using testing::readFile;
using testing::ScratchDir;
using testing::writeFile;

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    writeFile(dir_ / "fifo.bpf.o", elfObject());
    writeFile(dir_ / "scx_test", "#!/bin/sh\nexec sleep 1\n", 0755);
  }

  BuildOptions bpf(const std::string& layout = "out:v1") {
    BuildOptions o;
    o.type = "bpf-object";
    o.file = dir_ / "fifo.bpf.o";
    o.name = "fifo";
    o.version = "1.0";
    o.kernelMin = "6.12";
    o.platform = "linux/amd64";
    o.outputLayout = dir_ / layout;
    return o;
  }
  BuildOptions binary(const std::string& layout = "bin:v1") {
    BuildOptions o;
    o.type = "binary";
    o.file = dir_ / "scx_test";
    o.name = "test";
    o.args = {"--fast", "-v"};
    o.platform = "linux/amd64";
    o.outputLayout = dir_ / layout;
    return o;
  }

  Result<BuildResult> build(const BuildOptions& o) {
    return buildSchedulerImage(o, fakeOpsReader());
  }

  std::string blob(const std::string& layout, const oci::Digest& d) {
    return readFile(oci::OciLayout(layout).blobPath(d));
  }

  // Pulls oci:<layout>:<tag> with the agent's store into a fresh cache.
  Result<oci::PulledImage> pullLayout(const std::string& ref) {
    oci::ImageStoreOptions so;
    so.cacheDir = dir_ / ("cache-" + std::to_string(++caches_));
    so.platform = {"linux", "amd64", ""};
    auto noNet = [](const net::TlsConfig&) -> Result<net::HttpTransportPtr> {
      return unavailable("no network in unit tests");
    };
    auto s = oci::OciImageStore::create({noNet, clock_, random_, log_, nullptr}, so);
    if (!s.isOk()) return s.status();
    oci::PullRequest req;
    req.image = ref;
    return (*s)->pull(req);
  }

  ScratchDir dir_;
  SimClock clock_;
  FixedRandom random_{1};
  Logger log_{clock_, [](std::string_view) {}};
  int caches_ = 0;
};

TEST_F(BuildTest, SameInputsGiveTheSameDigest) {
  auto a = build(bpf("a:v1"));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  // A new mtime and another output directory change nothing.
  writeFile(dir_ / "fifo.bpf.o", elfObject());
  auto b = build(bpf("b:v1"));
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(a->digest, b->digest);
  EXPECT_EQ(a->layer.digest, b->layer.digest);
  EXPECT_EQ(a->config.digest, b->config.digest);
  EXPECT_EQ(blob(dir_ / "a", a->manifestDigest), blob(dir_ / "b", b->manifestDigest));
  // And building again into the same layout leaves one entry for the tag.
  auto c = build(bpf("a:v1"));
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->digest, a->digest);
  EXPECT_EQ(oci::OciLayout(dir_ / "a").index()->manifests.size(), 1u);
}

TEST_F(BuildTest, AnyChangedInputChangesTheDigest) {
  auto base = build(binary("base"));
  ASSERT_TRUE(base.isOk()) << base.status().toString();
  auto changed = [&](const std::function<void(BuildOptions&)>& f) {
    BuildOptions o = binary("x");
    f(o);
    auto r = build(o);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? r->digest : oci::Digest();
  };
  EXPECT_NE(changed([](BuildOptions& o) { o.args = {"--fast"}; }), base->digest);
  EXPECT_NE(changed([](BuildOptions& o) { o.args = {"-v", "--fast"}; }), base->digest);
  EXPECT_NE(changed([](BuildOptions& o) { o.version = "2"; }), base->digest);
  EXPECT_NE(changed([](BuildOptions& o) { o.path = "/opt/scx_test"; }), base->digest);
  EXPECT_NE(changed([](BuildOptions& o) { o.platform = "linux/arm64"; }), base->digest);
  EXPECT_NE(changed([](BuildOptions& o) { o.labels = {"team=kernel"}; }), base->digest);
  writeFile(dir_ / "scx_test", "#!/bin/sh\nexec sleep 2\n", 0755);
  EXPECT_NE(changed([](BuildOptions&) {}), base->digest);
}

TEST_F(BuildTest, LabelsGoInTheConfigWithoutTimestamps) {
  auto r = build(binary());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->config.mediaType, oci::media::kOciConfig);
  auto cfg = nlohmann::json::parse(blob(dir_ / "bin", r->config.digest));
  EXPECT_FALSE(cfg.contains("created"));
  EXPECT_FALSE(cfg.contains("history"));
  EXPECT_EQ(cfg["architecture"], "amd64");
  EXPECT_EQ(cfg["os"], "linux");
  EXPECT_EQ(cfg["rootfs"]["diff_ids"][0], r->diffId.toString());
  auto labels = cfg["config"]["Labels"];
  EXPECT_EQ(labels["io.schedkit.scheduler.type"], "binary");
  EXPECT_EQ(labels["io.schedkit.scheduler.path"], "/usr/bin/scx_test");
  EXPECT_EQ(labels["io.schedkit.scheduler.name"], "test");
  EXPECT_EQ(labels["io.schedkit.scheduler.args"], "[\"--fast\",\"-v\"]");
  EXPECT_FALSE(labels.contains("io.schedkit.kernel.min"));  // not given, not written
  auto man = nlohmann::json::parse(blob(dir_ / "bin", r->manifestDigest));
  EXPECT_FALSE(man.contains("annotations"));
  EXPECT_EQ(man["layers"][0]["mediaType"], oci::media::kOciLayerGzip);
}

TEST_F(BuildTest, AnnotationsMakeAnArtifactStyleImage) {
  BuildOptions o = bpf();
  o.annotations = true;
  o.args = {"--slice-us=5000"};
  auto r = build(o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->config.mediaType, oci::media::kOciEmpty);
  EXPECT_EQ(blob(dir_ / "out", r->config.digest), "{}");
  auto man = nlohmann::json::parse(blob(dir_ / "out", r->manifestDigest));
  EXPECT_EQ(man["artifactType"], kSchedulerArtifactType);
  EXPECT_EQ(man["annotations"]["io.schedkit.scheduler.type"], "bpf-object");
  EXPECT_EQ(man["annotations"]["io.schedkit.scheduler.path"], "/fifo.bpf.o");
  EXPECT_EQ(man["annotations"]["io.schedkit.kernel.min"], "6.12");
  EXPECT_EQ(man["annotations"]["io.schedkit.scheduler.args"], "[\"--slice-us=5000\"]");
  // Labels and annotations differ in digest.
  auto labelled = build(bpf("labelled"));
  ASSERT_TRUE(labelled.isOk());
  EXPECT_NE(labelled->digest, r->digest);
}

TEST_F(BuildTest, TheAgentsStoreReadsWhatWasBuilt) {
  for (bool annotations : {false, true}) {
    SCOPED_TRACE(annotations ? "annotations" : "labels");
    BuildOptions o = bpf(annotations ? "ann:1" : "lab:1");
    o.annotations = annotations;
    o.args = {"--a", "b"};
    auto r = build(o);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    auto p = pullLayout(r->reference);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    EXPECT_EQ(p->digest, r->digest);
    EXPECT_EQ(p->artifact.type, oci::ArtifactType::kBpfObject);
    EXPECT_EQ(p->artifact.path, "/fifo.bpf.o");
    EXPECT_EQ(p->artifact.opsName, "fifo");
    EXPECT_EQ(p->artifact.version, "1.0");
    EXPECT_EQ(p->artifact.kernelMin, "6.12");
    EXPECT_EQ(p->artifact.args, (std::vector<std::string>{"--a", "b"}));
    EXPECT_EQ(readFile(p->artifact.hostPath), elfObject());
  }
  auto b = build(binary());
  ASSERT_TRUE(b.isOk());
  auto p = pullLayout(b->reference);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ(p->artifact.type, oci::ArtifactType::kBinary);
  struct stat st {};
  ASSERT_EQ(::stat(p->artifact.hostPath.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & 0111, 0u);
}

TEST_F(BuildTest, TheLayerIsNormalised) {
  auto layer = buildSingleFileLayer("/usr/bin/scx_x", "content", 0755);
  ASSERT_TRUE(layer.isOk()) << layer.status().toString();
  // gzip header: no mtime (bytes 4..7), no file name flag (byte 3).
  ASSERT_GT(layer->blob.size(), 10u);
  EXPECT_EQ(layer->blob.substr(0, 3), "\x1f\x8b\x08");
  EXPECT_EQ(layer->blob[3], '\0');
  EXPECT_EQ(layer->blob.substr(4, 4), std::string(4, '\0'));
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  ASSERT_EQ(archive_read_open_memory(a, layer->blob.data(), layer->blob.size()), ARCHIVE_OK);
  struct archive_entry* e;
  std::vector<std::string> names;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    names.push_back(archive_entry_pathname(e));
    EXPECT_EQ(archive_entry_mtime(e), 0);
    EXPECT_EQ(archive_entry_uid(e), 0);
    EXPECT_EQ(archive_entry_gid(e), 0);
    const char* uname = archive_entry_uname(e);
    EXPECT_TRUE(uname == nullptr || *uname == '\0') << uname;
    if (archive_entry_filetype(e) == AE_IFREG) {
      EXPECT_EQ(archive_entry_perm(e), 0755u);
    }
  }
  archive_read_free(a);
  EXPECT_EQ(names, (std::vector<std::string>{"usr/", "usr/bin/", "usr/bin/scx_x"}));
}

TEST_F(BuildTest, AddToIndexMakesAMultiArchImage) {
  BuildOptions amd = binary("multi:1");
  amd.addToIndex = true;
  auto a = build(amd);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->mediaType, oci::media::kOciIndex);
  BuildOptions arm = amd;
  arm.platform = "linux/arm64/v8";
  auto b = build(arm);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(b->indexPlatforms.size(), 2u);
  auto idx = nlohmann::json::parse(blob(dir_ / "multi", b->digest));
  ASSERT_EQ(idx["manifests"].size(), 2u);
  EXPECT_EQ(idx["manifests"][0]["platform"]["architecture"], "amd64");
  EXPECT_EQ(idx["manifests"][1]["platform"]["architecture"], "arm64");
  // The same platform again replaces its entry.
  amd.version = "2";
  auto c = build(amd);
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(nlohmann::json::parse(blob(dir_ / "multi", c->digest))["manifests"].size(), 2u);
  // A plain image already at the tag joins the index.
  ASSERT_TRUE(build(binary("mixed:1")).isOk());
  BuildOptions armMixed = binary("mixed:1");
  armMixed.platform = "linux/arm64";
  armMixed.addToIndex = true;
  auto m = build(armMixed);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->indexPlatforms.size(), 2u);
  auto p = pullLayout(m->reference);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ(p->digest, m->digest);
}

struct BadInput {
  std::string name;
  std::function<void(BuildOptions&, const ScratchDir&)> change;
  std::string want;  // in the message
  bool usage;        // found from the flags alone (exit 2)
};

class BuildValidationTest : public BuildTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(BuildValidationTest, IsRefusedWithAReason) {
  BuildOptions o = bpf();
  GetParam().change(o, dir_);
  auto r = build(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find(GetParam().want), std::string::npos) << r.status().message();
  EXPECT_EQ(checkBuildFlags(o).isOk(), !GetParam().usage) << checkBuildFlags(o).status().message();
  // Nothing is written for a refused build.
  struct stat st {};
  EXPECT_NE(::stat((dir_ / "out").c_str(), &st), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, BuildValidationTest,
    ::testing::Values(
        BadInput{"TextAsBpfObject",
                 [](BuildOptions& o, const ScratchDir& d) {
                   writeFile(d / "x.o", "not an object");
                   o.file = d / "x.o";
                 },
                 "is not an ELF file", false},
        BadInput{"X86ElfAsBpfObject",
                 [](BuildOptions& o, const ScratchDir& d) {
                   writeFile(d / "x.o", elfObject(62));
                   o.file = d / "x.o";
                 },
                 "for machine 62, not BPF", false},
        BadInput{"BpfExecutableNotObject",
                 [](BuildOptions& o, const ScratchDir& d) {
                   writeFile(d / "x.o", elfObject(247, "b", 2));
                   o.file = d / "x.o";
                 },
                 "not a relocatable object", false},
        BadInput{"BpfWithoutSchedExtOps",
                 [](BuildOptions& o, const ScratchDir& d) {
                   writeFile(d / "noops.o", elfObject());
                   o.file = d / "noops.o";
                 },
                 "not a sched_ext scheduler object: the object defines no struct_ops", false},
        BadInput{"NameNotAPrefixOfTheOps",
                 [](BuildOptions& o, const ScratchDir&) { o.name = "lavd"; },
                 "--name lavd is not a prefix of the ops name \"fifo_test\"", false},
        BadInput{"NonExecutableBinary",
                 [](BuildOptions& o, const ScratchDir& d) {
                   writeFile(d / "scx_x", "#!/bin/sh\n", 0644);
                   o.type = "binary";
                   o.file = d / "scx_x";
                 },
                 "is not executable", false},
        BadInput{"BinaryWithoutName",
                 [](BuildOptions& o, const ScratchDir& d) {
                   o.type = "binary";
                   o.file = d / "scx_test";
                   o.name.clear();
                 },
                 "--name OPS_PREFIX is required for a binary", false},
        BadInput{"MissingFile", [](BuildOptions& o, const ScratchDir& d) { o.file = d / "nope"; },
                 "No such file", false},
        BadInput{"DirectoryAsFile", [](BuildOptions& o, const ScratchDir& d) { o.file = d.path(); },
                 "is not a regular file", false},
        BadInput{"KernelMinOnePart", [](BuildOptions& o, const ScratchDir&) { o.kernelMin = "6"; },
                 "--kernel-min must be X.Y or X.Y.Z", true},
        BadInput{"KernelMinLetters",
                 [](BuildOptions& o, const ScratchDir&) { o.kernelMin = "6.x"; },
                 "--kernel-min must be X.Y or X.Y.Z", true},
        BadInput{"KernelMinFourParts",
                 [](BuildOptions& o, const ScratchDir&) { o.kernelMin = "6.12.1.2"; },
                 "--kernel-min must be X.Y or X.Y.Z", true},
        BadInput{"UnknownType", [](BuildOptions& o, const ScratchDir&) { o.type = "wasm"; },
                 "--type must be binary or bpf-object", true},
        BadInput{"RelativePath", [](BuildOptions& o, const ScratchDir&) { o.path = "fifo.o"; },
                 "--path must be absolute", true},
        BadInput{"DotDotPath",
                 [](BuildOptions& o, const ScratchDir&) { o.path = "/opt/../fifo.o"; },
                 "may not contain", true},
        BadInput{"BadName", [](BuildOptions& o, const ScratchDir&) { o.name = "fi fo"; },
                 "--name must be", true},
        BadInput{"LabelWithoutValue",
                 [](BuildOptions& o, const ScratchDir&) { o.labels = {"team"}; },
                 "--label wants KEY=VALUE", true},
        BadInput{"ReservedLabel",
                 [](BuildOptions& o, const ScratchDir&) {
                   o.labels = {"io.schedkit.scheduler.type=binary"};
                 },
                 "io.schedkit.* labels come from", true},
        BadInput{"BadPlatform", [](BuildOptions& o, const ScratchDir&) { o.platform = "amd64"; },
                 "--platform", true},
        BadInput{"WithLibsForABpfObject",
                 [](BuildOptions& o, const ScratchDir&) { o.withLibs = true; },
                 "--with-libs is for --type binary", true},
        BadInput{"DigestAsOutput",
                 [](BuildOptions& o, const ScratchDir& d) {
                   o.outputLayout = d / "out@sha256:" + std::string(64, 'a');
                 },
                 "not a digest", true}),
    [](const ::testing::TestParamInfo<BadInput>& i) { return i.param.name; });

TEST(KernelVersion, Forms) {
  EXPECT_TRUE(validKernelVersion("6.12"));
  EXPECT_TRUE(validKernelVersion("6.12.3"));
  EXPECT_FALSE(validKernelVersion(""));
  EXPECT_FALSE(validKernelVersion("6."));
  EXPECT_FALSE(validKernelVersion(".6"));
  EXPECT_FALSE(validKernelVersion("6.12-rc1"));
}

}  // namespace
}  // namespace schedkit::cli
