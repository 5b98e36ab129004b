// schedkitctl image assemble: several programs sharing their libraries, files, directories and
// symlinks in one deterministic layer; the image config (entrypoint, env, labels) and manifest
// annotations; directory entries in the layer builder; and the flags refused with a reason.
#include "image/assemble.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/cli.h"
#include "fakes/fake_registry.h"
#include "fakes/fixed_random.h"
#include "image/layer.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/manifest.h"
#include "unit/cli/cli_test_util.h"

namespace schedkit::cli {
namespace {

namespace fs = std::filesystem;
using testing::fakeElf;
using testing::fakeOpsReader;
using testing::readFile;
using testing::ScratchDir;
using testing::writeFile;

struct TarEntry {
  unsigned type = 0;
  unsigned perm = 0;
  std::string symlink;
  std::string content;
};

// The layer's entries in tar order.
std::vector<std::pair<std::string, TarEntry>> readLayer(const std::string& blob) {
  std::vector<std::pair<std::string, TarEntry>> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, blob.data(), blob.size()) != ARCHIVE_OK) {
    archive_read_free(a);
    return out;
  }
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    TarEntry t;
    t.type = archive_entry_filetype(e);
    t.perm = archive_entry_perm(e);
    if (const char* s = archive_entry_symlink(e)) t.symlink = s;
    EXPECT_EQ(archive_entry_mtime(e), 0);
    EXPECT_EQ(archive_entry_uid(e), 0);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
      t.content.append(buf, static_cast<std::size_t>(n));
    }
    out.emplace_back(archive_entry_pathname(e), std::move(t));
  }
  archive_read_free(a);
  return out;
}

std::map<std::string, TarEntry> layerMap(const std::string& blob) {
  std::map<std::string, TarEntry> m;
  for (auto& [name, e] : readLayer(blob)) m[name] = std::move(e);
  return m;
}

// A canned build machine (merged /usr, the loader behind /lib64) with two programs that both
// need libc and one that also needs libfoo, plus a static one and a script.
class AssembleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    root_ = dir_ / "root";
    const std::string lib = root_ + "/usr/lib/x86_64-linux-gnu";
    fs::create_directories(lib);
    fs::create_directories(root_ + "/usr/lib64");
    fs::create_directories(root_ + "/opt/bin");
    fs::create_directories(root_ + "/etc");
    fs::create_symlink("usr/lib", root_ + "/lib");
    fs::create_symlink("usr/lib64", root_ + "/lib64");
    writeFile(lib + "/ld-linux-x86-64.so.2",
              fakeElf({3, 2, 62, "", {}, "ld-linux-x86-64.so.2", "", ""}), 0755);
    fs::create_symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                       root_ + "/usr/lib64/ld-linux-x86-64.so.2");
    writeFile(lib + "/libc.so.6",
              fakeElf({3, 2, 62, "", {"ld-linux-x86-64.so.2"}, "libc.so.6", "", ""}), 0755);
    writeFile(lib + "/libfoo.so.1", fakeElf({3, 2, 62, "", {"libc.so.6"}, "libfoo.so.1", "", ""}));
    const std::string ld = "/lib64/ld-linux-x86-64.so.2";
    writeFile(root_ + "/opt/bin/agent",
              fakeElf({3, 2, 62, ld, {"libfoo.so.1", "libc.so.6"}, "", "", ""}), 0755);
    writeFile(root_ + "/opt/bin/ctl", fakeElf({3, 2, 62, ld, {"libc.so.6"}, "", "", ""}), 0755);
    writeFile(root_ + "/opt/bin/pause", fakeElf({2, 2, 62, "", {}, "", "", ""}), 0755);
    writeFile(root_ + "/opt/bin/script", "#!/bin/sh\nexit 0\n", 0755);
    writeFile(root_ + "/opt/bin/noexec", fakeElf({3, 2, 62, ld, {"libc.so.6"}, "", "", ""}), 0644);
    writeFile(root_ + "/etc/passwd", "root:x:0:0:root:/:/sbin/nologin\n");
    writeFile(root_ + "/etc/ca.crt", "-----BEGIN CERTIFICATE-----\n");
  }

  AssembleOptions agent(const std::string& layout = "agent:1") {
    AssembleOptions o;
    o.binaries = {root_ + "/opt/bin/agent", root_ + "/opt/bin/ctl:/usr/bin/schedkitctl"};
    o.files = {root_ + "/etc/passwd:/etc/passwd", root_ + "/etc/ca.crt:/etc/ssl/certs/ca.crt"};
    o.dirs = {"/tmp:1777", "/etc:0755"};
    o.symlinks = {"/usr/lib/ssl/cert.pem:/etc/ssl/certs/ca.crt"};
    o.entrypoint = {"/usr/bin/agent"};
    o.cmd = {"--help"};
    o.env = {"PATH=/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca.crt"};
    o.user = "0:0";
    o.workdir = "/";
    o.labels = {"org.opencontainers.image.version=0.1.0"};
    o.annotations = {"org.opencontainers.image.revision=abc123"};
    o.platform = "linux/amd64";
    o.outputLayout = dir_ / layout;
    o.search.root = root_;
    return o;
  }

  std::string blob(const AssembleResult& r, const oci::Digest& d) {
    return readFile(oci::OciLayout(r.layout).blobPath(d));
  }

  ScratchDir dir_;
  std::string root_;
};

TEST_F(AssembleTest, SameInputsGiveTheSameDigest) {
  auto a = assembleImage(agent("a:1"));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  auto b = assembleImage(agent("b:1"));
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(a->digest, b->digest);
  EXPECT_EQ(blob(*a, a->layer.digest), blob(*b, b->layer.digest));
  // The order flags come in does not change the layer (entries are sorted by path).
  AssembleOptions swapped = agent("c:1");
  std::reverse(swapped.binaries.begin(), swapped.binaries.end());
  std::reverse(swapped.files.begin(), swapped.files.end());
  auto c = assembleImage(swapped);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->layer.digest, a->layer.digest);
  EXPECT_EQ(c->digest, a->digest);
  // What changes the image changes the digest.
  AssembleOptions created = agent("d:1");
  created.created = "2025-01-02T03:04:05Z";
  auto d = assembleImage(created);
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_NE(d->digest, a->digest);
  EXPECT_EQ(d->layer.digest, a->layer.digest);
}

TEST_F(AssembleTest, ProgramsShareTheirLibrariesInOneLayer) {
  auto r = assembleImage(agent());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::vector<std::string> order;
  for (const auto& [name, e] : readLayer(blob(*r, r->layer.digest))) order.push_back(name);
  std::vector<std::string> want = {
      "etc/",
      "etc/passwd",
      "etc/ssl/",
      "etc/ssl/certs/",
      "etc/ssl/certs/ca.crt",
      "lib/",
      "lib/x86_64-linux-gnu/",
      "lib/x86_64-linux-gnu/libc.so.6",
      "lib/x86_64-linux-gnu/libfoo.so.1",
      "lib64/",
      "lib64/ld-linux-x86-64.so.2",
      "tmp/",
      "usr/",
      "usr/bin/",
      "usr/bin/agent",
      "usr/bin/schedkitctl",
      "usr/lib/",
      "usr/lib/ssl/",
      "usr/lib/ssl/cert.pem",
      "usr/lib/x86_64-linux-gnu/",
      "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "usr/lib/x86_64-linux-gnu/libc.so.6",
      "usr/lib/x86_64-linux-gnu/libfoo.so.1",
  };
  EXPECT_EQ(order, want);
  auto tar = layerMap(blob(*r, r->layer.digest));
  EXPECT_EQ(tar["usr/bin/agent"].perm, 0755u);
  EXPECT_EQ(tar["usr/bin/agent"].content, readFile(root_ + "/opt/bin/agent"));
  EXPECT_EQ(tar["usr/bin/schedkitctl"].content, readFile(root_ + "/opt/bin/ctl"));
  EXPECT_EQ(tar["etc/passwd"].perm, 0644u);
  EXPECT_EQ(tar["tmp/"].type, static_cast<unsigned>(AE_IFDIR));
  EXPECT_EQ(tar["tmp/"].perm, 01777u);
  EXPECT_EQ(tar["lib/x86_64-linux-gnu/libc.so.6"].type, static_cast<unsigned>(AE_IFLNK));
  EXPECT_EQ(tar["lib/x86_64-linux-gnu/libc.so.6"].symlink,
            "../../usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(tar["usr/lib/ssl/cert.pem"].symlink, "/etc/ssl/certs/ca.crt");

  // libc once, although both programs need it; the loader and libfoo named by who needs them.
  int libc = 0;
  for (const auto& e : r->entries) {
    if (e.path == "/usr/lib/x86_64-linux-gnu/libc.so.6") {
      ++libc;
      EXPECT_EQ(e.kind, AssembleEntry::Kind::kLibrary);
      EXPECT_EQ(e.neededBy, "/usr/bin/agent");
    }
    if (e.path == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") {
      EXPECT_EQ(e.kind, AssembleEntry::Kind::kLoader);
    }
  }
  EXPECT_EQ(libc, 1);
  std::int64_t bytes = 0;
  for (const auto& [name, e] : tar) bytes += static_cast<std::int64_t>(e.content.size());
  EXPECT_EQ(r->unpackedSize, bytes);
  EXPECT_EQ(r->size(), r->config.size + r->layer.size);
}

TEST_F(AssembleTest, TheConfigRunsTheEntrypointAndTheManifestCarriesAnnotations) {
  auto r = assembleImage(agent());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::string cfg = blob(*r, r->config.digest);
  auto j = nlohmann::json::parse(cfg);
  EXPECT_EQ(j["config"]["Entrypoint"], nlohmann::json::array({"/usr/bin/agent"}));
  EXPECT_EQ(j["config"]["Cmd"], nlohmann::json::array({"--help"}));
  EXPECT_EQ(j["config"]["Env"][1], "SSL_CERT_FILE=/etc/ssl/certs/ca.crt");
  EXPECT_EQ(j["config"]["User"], "0:0");
  EXPECT_EQ(j["config"]["WorkingDir"], "/");
  EXPECT_EQ(j["config"]["Labels"]["org.opencontainers.image.version"], "0.1.0");
  EXPECT_FALSE(j.contains("created"));
  EXPECT_FALSE(j.contains("history"));
  EXPECT_EQ(j["rootfs"]["diff_ids"][0], r->diffId.toString());
  // The agent's own parser reads it back.
  auto parsed = oci::parseImageConfig(cfg);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(parsed->entrypoint, std::vector<std::string>{"/usr/bin/agent"});

  oci::OciLayout l(r->layout);
  auto top = l.resolve("1");
  ASSERT_TRUE(top.isOk()) << top.status().toString();
  EXPECT_EQ(top->digest, r->digest);
  ASSERT_TRUE(top->platform.has_value());
  EXPECT_EQ(top->platform->toString(), "linux/amd64");
  auto fm = l.manifest(*top);
  ASSERT_TRUE(fm.isOk());
  auto m = oci::parseImageManifest(fm->body, fm->mediaType);
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(m->annotations.at("org.opencontainers.image.revision"), "abc123");
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].digest, r->layer.digest);
}

TEST_F(AssembleTest, AStaticProgramNeedsNothingElse) {
  AssembleOptions o;
  o.binaries = {root_ + "/opt/bin/pause:/pause"};
  o.entrypoint = {"/pause"};
  o.outputLayout = dir_ / "pause:1";
  o.search.root = root_;
  auto r = assembleImage(o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->entries.size(), 1u);
  EXPECT_EQ(r->entries[0].path, "/pause");
  auto tar = readLayer(blob(*r, r->layer.digest));
  ASSERT_EQ(tar.size(), 1u);
  EXPECT_EQ(tar[0].first, "pause");
}

TEST_F(AssembleTest, ARelativeEntrypointIsFoundInTheImagesPath) {
  AssembleOptions o = agent();
  o.entrypoint = {"schedkitctl"};
  EXPECT_TRUE(assembleImage(o).isOk());
  o.env = {"PATH=/opt/nothing"};
  auto r = assembleImage(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find(
                "the entrypoint schedkitctl is not an executable file in the image (searched its "
                "PATH)"),
            std::string::npos)
      << r.status().message();
}

struct RefusedCase {
  std::string name;
  std::function<void(AssembleOptions&, const std::string& root)> change;
  StatusCode code;
  std::string want;
  bool usage = true;  // refused by checkAssembleFlags, before any file is read
};

class AssembleRefusedTest : public AssembleTest,
                            public ::testing::WithParamInterface<RefusedCase> {};

TEST_P(AssembleRefusedTest, WithAReason) {
  AssembleOptions o = agent("refused:1");
  GetParam().change(o, root_);
  auto f = checkAssembleFlags(o);
  EXPECT_EQ(f.isOk(), !GetParam().usage) << f.status().toString();
  auto r = assembleImage(o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), GetParam().code) << r.status().toString();
  EXPECT_NE(r.status().message().find(GetParam().want), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(dir_ / "refused")) << "nothing is written when refused";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AssembleRefusedTest,
    ::testing::Values(
        RefusedCase{"Nothing",
                    [](auto& o, auto&) {
                      o = AssembleOptions{};
                      o.outputLayout = "x:1";
                    },
                    StatusCode::kInvalidArgument, "nothing to put in the image"},
        RefusedCase{"FileWithoutPath", [](auto& o, auto&) { o.files = {"/etc/passwd"}; },
                    StatusCode::kInvalidArgument, "--file wants HOST:PATH[:MODE]"},
        RefusedCase{"RelativePath", [](auto& o, auto&) { o.dirs = {"tmp"}; },
                    StatusCode::kInvalidArgument, "must be an absolute path in the image"},
        RefusedCase{"DotDot", [](auto& o, auto& r) { o.binaries = {r + "/opt/bin/ctl:/usr/../x"}; },
                    StatusCode::kInvalidArgument, "may not contain \".\" or \"..\""},
        RefusedCase{"NotOctal", [](auto& o, auto&) { o.dirs = {"/tmp:rwx"}; },
                    StatusCode::kInvalidArgument, "mode \"rwx\" is not octal"},
        RefusedCase{"SetUid", [](auto& o, auto& r) { o.files = {r + "/etc/passwd:/x:4755"}; },
                    StatusCode::kInvalidArgument, "set-user-ID"},
        RefusedCase{"BadEnv", [](auto& o, auto&) { o.env = {"=x"}; }, StatusCode::kInvalidArgument,
                    "--env wants KEY=VALUE"},
        RefusedCase{"BadCreated", [](auto& o, auto&) { o.created = "yesterday"; },
                    StatusCode::kInvalidArgument, "--created must be RFC 3339"},
        RefusedCase{"BadSymlink", [](auto& o, auto&) { o.symlinks = {"/x"}; },
                    StatusCode::kInvalidArgument, "--symlink wants PATH:TARGET"},
        RefusedCase{"MissingBinary",
                    [](auto& o, auto& r) { o.binaries = {r + "/opt/bin/schedkit-agent"}; },
                    StatusCode::kNotFound, "--binary ", false},
        RefusedCase{"NotExecutable", [](auto& o, auto& r) { o.binaries = {r + "/opt/bin/noexec"}; },
                    StatusCode::kInvalidArgument, "is not executable (chmod +x it)", false},
        RefusedCase{"Script", [](auto& o, auto& r) { o.binaries = {r + "/opt/bin/script"}; },
                    StatusCode::kInvalidArgument, "is not an ELF file", false},
        RefusedCase{"MissingLibrary",
                    [](auto&, auto& r) { fs::remove(r + "/usr/lib/x86_64-linux-gnu/libfoo.so.1"); },
                    StatusCode::kNotFound, "libfoo.so.1", false},
        RefusedCase{"FileOverALibrary",
                    [](auto& o, auto& r) {
                      o.files.push_back(r + "/etc/passwd:/usr/lib/x86_64-linux-gnu/libc.so.6");
                    },
                    StatusCode::kInvalidArgument,
                    "both put something at /usr/lib/x86_64-linux-gnu/libc.so.6", false},
        RefusedCase{"TwoDirs", [](auto& o, auto&) { o.dirs.push_back("/tmp:0700"); },
                    StatusCode::kInvalidArgument, "both put something at /tmp", false},
        RefusedCase{"FileUnderAFile",
                    [](auto& o, auto& r) { o.files.push_back(r + "/etc/ca.crt:/etc/passwd/x"); },
                    StatusCode::kInvalidArgument, "/etc/passwd is a file", false},
        RefusedCase{"EntrypointNotThere", [](auto& o, auto&) { o.entrypoint = {"/usr/bin/nope"}; },
                    StatusCode::kInvalidArgument,
                    "the entrypoint /usr/bin/nope is not an executable file in the image", false},
        RefusedCase{"EntrypointNotExecutable",
                    [](auto& o, auto&) { o.entrypoint = {"/etc/passwd"}; },
                    StatusCode::kInvalidArgument, "the entrypoint /etc/passwd is not", false}),
    [](const auto& param) { return param.param.name; });

TEST(LayerDirectories, AnEntryGivesTheModeOfAnImpliedParent) {
  std::string data = "x";
  for (bool dirFirst : {true, false}) {
    std::vector<LayerEntry> entries = {{"/tmp/a", data, 0600, {}, false},
                                       {"/tmp", {}, 01777, {}, true}};
    if (dirFirst) std::swap(entries[0], entries[1]);
    auto l = buildLayer(entries);
    ASSERT_TRUE(l.isOk()) << l.status().toString();
    auto tar = readLayer(l->blob);
    ASSERT_EQ(tar.size(), 2u);
    EXPECT_EQ(tar[0].first, "tmp/");
    EXPECT_EQ(tar[0].second.perm, 01777u);
    EXPECT_EQ(tar[1].first, "tmp/a");
  }
  auto twice = buildLayer({{"/d", {}, 0755, {}, true}, {"/d", {}, 0700, {}, true}});
  ASSERT_FALSE(twice.isOk());
  EXPECT_NE(twice.status().message().find("two entries for /d"), std::string::npos);
  auto both = buildLayer({{"/d", {}, 0755, "/x", true}});
  ASSERT_FALSE(both.isOk());
  EXPECT_NE(both.status().message().find("cannot be a directory and a symlink"), std::string::npos);
}

// Through runCli: JSON out, usage errors exit 2, a missing input exits 1 naming it.
class AssembleCliTest : public AssembleTest {
 protected:
  struct Run {
    int rc;
    std::string out, err;
  };
  Run run(std::vector<std::string> args) {
    args.insert(args.begin(), "schedkitctl");
    CliDeps deps{reg_.factory(),
                 fakeOpsReader(),
                 {[this](const std::string& k) { return k == "TMPDIR" ? dir_.path() : ""; },
                  [] { return std::string(); }},
                 clock_,
                 random_};
    std::ostringstream out, err;
    int rc = runCli(args, out, err, deps);
    return {rc, out.str(), err.str()};
  }

  oci::testing::FakeRegistry reg_;
  SimClock clock_;
  FixedRandom random_{3};
};

TEST_F(AssembleCliTest, PrintsTheImageAndExitsByOutcome) {
  // A static program needs no canned root: the real machine's search finds nothing to add.
  const std::string pause = root_ + "/opt/bin/pause";
  auto ok =
      run({"-o", "json", "image", "assemble", "--binary", pause + ":/pause", "--dir=/tmp:1777",
           "--entrypoint", "/pause", "--label", "a=b", "--annotation", "c=d", "--env=PATH=/",
           "--platform", "linux/arm64", "--output-layout", dir_ / "cli:2"});
  ASSERT_EQ(ok.rc, kExitOk) << ok.out << ok.err;
  auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["reference"], "oci:" + (dir_ / "cli") + ":2");
  EXPECT_EQ(j["platform"]["architecture"], "arm64");
  EXPECT_EQ(j["entrypoint"], nlohmann::json::array({"/pause"}));
  EXPECT_EQ(j["labels"]["a"], "b");
  EXPECT_EQ(j["annotations"]["c"], "d");
  EXPECT_EQ(j["size"].get<std::int64_t>(),
            j["config"]["size"].get<std::int64_t>() + j["layers"][0]["size"].get<std::int64_t>());
  ASSERT_EQ(j["entries"].size(), 2u);
  EXPECT_EQ(j["entries"][0]["path"], "/pause");
  EXPECT_EQ(j["entries"][0]["type"], "binary");
  EXPECT_EQ(j["entries"][1]["mode"], "1777");

  auto text = run({"image", "assemble", "--binary", pause + ":/pause", "--entrypoint", "/pause",
                   "--output-layout", dir_ / "cli:3"});
  ASSERT_EQ(text.rc, kExitOk) << text.err;
  EXPECT_NE(text.out.find("Contents:       1 binary"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Entrypoint:     [\"/pause\"]"), std::string::npos) << text.out;

  auto usage = run({"image", "assemble", "--dir", "/tmp:9", "--output-layout", dir_ / "u:1"});
  EXPECT_EQ(usage.rc, kExitUsage);
  EXPECT_NE(usage.err.find("mode \"9\" is not octal"), std::string::npos) << usage.err;
  EXPECT_EQ(run({"image", "assemble", "--dir", "/tmp"}).rc, kExitUsage);  // no --output-layout

  auto missing = run({"image", "assemble", "--binary", dir_ / "build/agent/schedkit-agent",
                      "--output-layout", dir_ / "m:1"});
  EXPECT_EQ(missing.rc, kExitFailure);
  EXPECT_NE(missing.err.find("--binary " + (dir_ / "build/agent/schedkit-agent")),
            std::string::npos)
      << missing.err;

  auto help = run({"image", "assemble", "--help"});
  EXPECT_EQ(help.rc, kExitOk);
  for (const char* flag : {"--binary", "--file", "--dir", "--symlink", "--entrypoint", "--cmd",
                           "--env", "--user", "--label", "--annotation", "--created"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace schedkit::cli
