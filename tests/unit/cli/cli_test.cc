// schedkitctl end to end in-process: parsing, exit codes, the JSON documents, and push, inspect
// and pull against the in-memory registry (tests/fakes/fake_registry.h).
#include "app/cli.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/fake_registry.h"
#include "fakes/fixed_random.h"
#include "fakes/oci_signing.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/signature.h"
#include "unit/cli/cli_test_util.h"

namespace schedkit::cli {
namespace {

using nlohmann::json;
using testing::elfObject;
using testing::fakeOpsReader;
using testing::readFile;
using testing::ScratchDir;
using testing::writeFile;

struct CliRun {
  int rc;
  std::string out, err;
  json doc() const {
    auto j = json::parse(out, nullptr, false);
    return j;
  }
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    writeFile(dir_ / "fifo.bpf.o", elfObject());
    writeFile(dir_ / "scx_test", "#!/bin/sh\nexec sleep 1\n", 0755);
    env_["HOME"] = dir_.path();  // no ~/.docker/config.json unless a test writes one
    env_["TMPDIR"] = dir_.path();
  }

  CliRun run(std::vector<std::string> args) {
    args.insert(args.begin(), "schedkitctl");
    CliDeps deps{reg_.factory(),
                 fakeOpsReader(),
                 {[this](const std::string& k) { return env_.count(k) ? env_[k] : std::string(); },
                  [this] { return stdin_; }},
                 clock_,
                 random_};
    std::ostringstream out, err;
    int rc = runCli(args, out, err, deps);
    return {rc, out.str(), err.str()};
  }

  // A bpf-object image in dir/<name>:1, and its digest.
  std::string buildFifo(const std::string& name = "fifo", std::vector<std::string> extra = {},
                        const std::string& platform = "linux/amd64") {
    std::vector<std::string> a = {
        "-o",         "json",       "image",           "build",
        "--type",     "bpf-object", "--file",          dir_ / "fifo.bpf.o",
        "--name",     "fifo",       "--kernel-min",    "6.12",
        "--platform", platform,     "--output-layout", dir_ / name + ":1"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = run(a);
    EXPECT_EQ(r.rc, 0) << r.out << r.err;
    return r.doc().value("digest", "");
  }

  ScratchDir dir_;
  oci::testing::FakeRegistry reg_;
  SimClock clock_;
  FixedRandom random_{3};
  std::map<std::string, std::string> env_;
  std::string stdin_;
};

TEST_F(CliTest, HelpAndVersionExitZero) {
  auto h = run({"--help"});
  EXPECT_EQ(h.rc, kExitOk);
  EXPECT_NE(h.out.find("image"), std::string::npos);
  EXPECT_NE(h.out.find("Exit status: 0 success, 1 failure, 2 usage error"), std::string::npos);
  auto bh = run({"image", "build", "--help"});
  EXPECT_EQ(bh.rc, kExitOk);
  for (const char* flag :
       {"--type", "--file", "--path", "--name", "--version", "--kernel-min", "--arg", "--label",
        "--platform", "--annotations", "--with-libs", "--output-layout"}) {
    EXPECT_NE(bh.out.find(flag), std::string::npos) << flag;
  }
  for (const char* cmd : {"push", "inspect", "pull"}) {
    auto c = run({"image", cmd, "--help"});
    EXPECT_EQ(c.rc, kExitOk) << cmd;
    EXPECT_NE(c.out.find("REFERENCE"), std::string::npos) << cmd << c.out;
  }
  EXPECT_NE(run({"image", "pull", "--help"}).out.find("--policy"), std::string::npos);
  auto v = run({"--version"});
  EXPECT_EQ(v.rc, kExitOk);
  EXPECT_NE(v.out.find("schedkitctl 0.1.0"), std::string::npos);
}

struct UsageCase {
  std::string name;
  std::vector<std::string> args;
  std::string want;
};

class CliUsageTest : public CliTest, public ::testing::WithParamInterface<UsageCase> {};

TEST_P(CliUsageTest, ExitsTwoWithAMessage) {
  std::vector<std::string> args = GetParam().args;
  for (auto& a : args) {
    if (a == "FILE") a = dir_ / "fifo.bpf.o";
    if (a == "OUT") a = dir_ / "out";
  }
  auto r = run(args);
  EXPECT_EQ(r.rc, kExitUsage) << r.out << r.err;
  EXPECT_NE(r.err.find(GetParam().want), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  // The same in JSON: one document on stdout with the error.
  args.insert(args.begin(), {"--output", "json"});
  auto j = run(args);
  EXPECT_EQ(j.rc, kExitUsage);
  auto doc = j.doc();
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_NE(doc["error"]["message"].get<std::string>().find(GetParam().want), std::string::npos)
      << j.out;
}

INSTANTIATE_TEST_SUITE_P(
    Args, CliUsageTest,
    ::testing::Values(
        UsageCase{"NoCommand", {}, "A subcommand is required"},
        UsageCase{"NoImageCommand", {"image"}, "A subcommand is required"},
        UsageCase{
            "UnknownFlag", {"image", "inspect", "reg.test/x:1", "--frobnicate"}, "frobnicate"},
        UsageCase{"MissingFile",
                  {"image", "build", "--type", "binary", "--output-layout", "OUT"},
                  "--file is required"},
        UsageCase{"BadType",
                  {"image", "build", "--type", "wasm", "--file", "FILE", "--output-layout", "OUT"},
                  "wasm"},
        UsageCase{"BadKernelMin",
                  {"image", "build", "--type", "bpf-object", "--file", "FILE", "--kernel-min",
                   "six", "--output-layout", "OUT"},
                  "--kernel-min must be X.Y or X.Y.Z"},
        UsageCase{"BadLabel",
                  {"image", "build", "--type", "bpf-object", "--file", "FILE", "--label", "x",
                   "--output-layout", "OUT"},
                  "--label wants KEY=VALUE"},
        UsageCase{"WithLibsForABpfObject",
                  {"image", "build", "--type", "bpf-object", "--file", "FILE", "--with-libs",
                   "--output-layout", "OUT"},
                  "--with-libs is for --type binary"},
        UsageCase{"PushWithoutDest", {"image", "push", "OUT"}, "REFERENCE is required"},
        UsageCase{"PullWithoutCache", {"image", "pull", "reg.test/x:1"}, "--cache is required"},
        UsageCase{"BadPolicy",
                  {"image", "pull", "reg.test/x:1", "--cache", "OUT", "--policy", "Sometimes"},
                  "Sometimes"},
        UsageCase{"BadReference", {"image", "inspect", "Reg.Test/X:1:2"}, "invalid"},
        UsageCase{"PasswordWithoutUser",
                  {"image", "push", "OUT", "reg.test/x:1", "--password", "pw"},
                  "--password needs --username"}),
    [](const ::testing::TestParamInfo<UsageCase>& i) { return i.param.name; });

TEST_F(CliTest, BadOutputFormatIsUsage) {
  auto r = run({"--output", "yaml", "image", "inspect", "x"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("yaml"), std::string::npos);
}

TEST_F(CliTest, BuildPrintsTheImageAsJson) {
  auto r =
      run({"image", "build", "--type", "bpf-object", "--file", dir_ / "fifo.bpf.o", "--version",
           "1.0", "--kernel-min", "6.12", "--arg=--slice-us=5000", "--label", "team=kernel",
           "--platform", "linux/amd64", "--output-layout", dir_ / "out:1.0", "--output", "json"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  json d = r.doc();
  ASSERT_TRUE(d.is_object()) << r.out;
  EXPECT_EQ(d["reference"], "oci:" + (dir_ / "out") + ":1.0");
  EXPECT_EQ(d["layout"], dir_ / "out");
  EXPECT_EQ(d["tag"], "1.0");
  EXPECT_EQ(d["digest"], d["manifestDigest"]);
  EXPECT_EQ(d["mediaType"], oci::media::kOciManifest);
  EXPECT_EQ(d["platform"], json({{"os", "linux"}, {"architecture", "amd64"}}));
  EXPECT_EQ(d["config"]["mediaType"], oci::media::kOciConfig);
  ASSERT_EQ(d["layers"].size(), 1u);
  EXPECT_EQ(d["layers"][0]["mediaType"], oci::media::kOciLayerGzip);
  EXPECT_TRUE(d["layers"][0]["size"].is_number_integer());
  EXPECT_EQ(d["labelsIn"], "config");
  EXPECT_EQ(d["labels"]["team"], "kernel");
  EXPECT_EQ(d["labels"]["io.schedkit.scheduler.name"], "fifo_test");  // from the object
  EXPECT_EQ(d["objectOpsName"], "fifo_test");
  json art = d["artifact"];
  EXPECT_EQ(art["type"], "bpf-object");
  EXPECT_EQ(art["path"], "/fifo.bpf.o");
  EXPECT_EQ(art["opsName"], "fifo_test");
  EXPECT_EQ(art["version"], "1.0");
  EXPECT_EQ(art["kernelMin"], "6.12");
  EXPECT_EQ(art["args"], json::array({"--slice-us=5000"}));
  // Text says the same for people.
  auto t = run({"image", "build", "--type", "bpf-object", "--file", dir_ / "fifo.bpf.o",
                "--output-layout", dir_ / "out2"});
  ASSERT_EQ(t.rc, kExitOk) << t.err;
  EXPECT_NE(t.out.find("Built:"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("The agent would run:"), std::string::npos);
  EXPECT_NE(t.out.find("bpf-object"), std::string::npos);
}

TEST_F(CliTest, BuildWithLibsListsWhatItAdded) {
  auto r = run({"-o", "json", "image", "build", "--type", "binary", "--file", "/bin/true", "--name",
                "true", "--with-libs", "--output-layout", dir_ / "true:1"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  json d = r.doc();
  ASSERT_TRUE(d["libraries"].is_array()) << r.out;
  if (d["libraries"].empty()) GTEST_SKIP() << "/bin/true is statically linked here";
  json ld = d["libraries"][0];
  EXPECT_EQ(ld["interpreter"], true);
  EXPECT_EQ(ld["name"].get<std::string>().front(), '/');  // the PT_INTERP path
  bool libc = false;
  for (const auto& l : d["libraries"]) {
    EXPECT_EQ(l.size(), 6u) << l;
    EXPECT_TRUE(l["path"].is_string());
    EXPECT_TRUE(l["links"].is_array());
    EXPECT_TRUE(l["size"].is_number_integer());
    EXPECT_EQ(l["digest"].get<std::string>().rfind("sha256:", 0), 0u);
    libc |= l["name"] == "libc.so.6";
  }
  EXPECT_TRUE(libc) << r.out;
  EXPECT_FALSE(d.contains("notes"));
  // Text: the count and each file.
  auto t = run({"image", "build", "--type", "binary", "--file", "/bin/true", "--name", "true",
                "--with-libs", "--output-layout", dir_ / "true:1"});
  ASSERT_EQ(t.rc, kExitOk) << t.err;
  EXPECT_NE(t.out.find("Libraries:      " + std::to_string(d["libraries"].size()) + " ("),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("  " + ld["path"].get<std::string>() + " ("), std::string::npos) << t.out;
  EXPECT_EQ(t.err, "");
}

TEST_F(CliTest, WithLibsOnAStaticBinaryNotesIt) {
  writeFile(dir_ / "scx_static", testing::fakeElf({2, 2, 62, "", {}, "", "", ""}), 0755);
  std::vector<std::string> a = {
      "image",  "build",  "--type",      "binary",          "--file",         dir_ / "scx_static",
      "--name", "static", "--with-libs", "--output-layout", dir_ / "static:1"};
  auto t = run(a);
  ASSERT_EQ(t.rc, kExitOk) << t.err;
  EXPECT_EQ(t.err, "note: " + (dir_ / "scx_static") +
                       " is statically linked: --with-libs added nothing\n");
  EXPECT_NE(t.out.find("Libraries:      none (statically linked)"), std::string::npos) << t.out;
  a.insert(a.begin(), {"-o", "json"});
  auto j = run(a);
  ASSERT_EQ(j.rc, kExitOk) << j.out;
  EXPECT_EQ(j.err, "");
  EXPECT_EQ(j.doc()["libraries"], json::array());
  EXPECT_EQ(j.doc()["notes"].size(), 1u);
}

TEST_F(CliTest, BuildFailuresExitOne) {
  writeFile(dir_ / "plain", "not executable", 0644);
  auto r = run({"-o", "json", "image", "build", "--type", "binary", "--name", "x", "--file",
                dir_ / "plain", "--output-layout", dir_ / "out"});
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_EQ(r.doc()["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_NE(r.doc()["error"]["message"].get<std::string>().find("is not executable"),
            std::string::npos);
  writeFile(dir_ / "notbpf.o", "text");
  auto t = run({"image", "build", "--type", "bpf-object", "--file", dir_ / "notbpf.o",
                "--output-layout", dir_ / "out"});
  EXPECT_EQ(t.rc, kExitFailure);
  EXPECT_NE(t.err.find("error: "), std::string::npos);
  EXPECT_NE(t.err.find("is not an ELF file"), std::string::npos);
}

TEST_F(CliTest, PushSkipsBlobsTheRegistryHas) {
  std::string digest = buildFifo();
  auto r = run({"-o", "json", "image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  json d = r.doc();
  EXPECT_EQ(d["reference"], "reg.test/scx/fifo:1");
  EXPECT_EQ(d["digest"], digest);
  EXPECT_EQ(d["pinnedReference"], "reg.test/scx/fifo@" + digest);
  EXPECT_EQ(d["blobs"]["pushed"], 2);  // config + layer
  EXPECT_EQ(d["blobs"]["skipped"], 0);
  auto again = run({"-o", "json", "image", "push", "oci:" + (dir_ / "fifo"), "reg.test/scx/fifo"});
  ASSERT_EQ(again.rc, kExitOk) << again.out;
  EXPECT_EQ(again.doc()["blobs"]["pushed"], 0);
  EXPECT_EQ(again.doc()["blobs"]["skipped"], 2);
  EXPECT_EQ(again.doc()["reference"], "reg.test/scx/fifo:1");  // the layout's tag
  // Text mode ends with the digest reference.
  auto t = run({"image", "push", dir_ / "fifo:1", "reg.test/scx/other:2"});
  ASSERT_EQ(t.rc, kExitOk);
  EXPECT_NE(t.out.find("reg.test/scx/other@" + digest + "\n"), std::string::npos) << t.out;
}

TEST_F(CliTest, PushAMultiArchIndexThenInspectIt) {
  ASSERT_FALSE(buildFifo("multi", {"--add-to-index"}).empty());
  std::string idx = buildFifo("multi", {"--add-to-index"}, "linux/arm64");
  auto p = run({"-o", "json", "image", "push", dir_ / "multi:1", "reg.test/scx/multi:1"});
  ASSERT_EQ(p.rc, kExitOk) << p.out << p.err;
  EXPECT_EQ(p.doc()["digest"], idx);
  EXPECT_EQ(p.doc()["mediaType"], oci::media::kOciIndex);
  EXPECT_EQ(p.doc()["platforms"].size(), 2u);
  auto i =
      run({"-o", "json", "image", "inspect", "reg.test/scx/multi:1", "--platform", "linux/arm64"});
  ASSERT_EQ(i.rc, kExitOk) << i.out << i.err;
  json d = i.doc();
  EXPECT_EQ(d["digest"], idx);
  ASSERT_EQ(d["platforms"].size(), 2u);
  EXPECT_EQ(d["platforms"][0]["architecture"], "amd64");
  EXPECT_EQ(d["platforms"][1]["architecture"], "arm64");
  EXPECT_EQ(d["platform"]["architecture"], "arm64");
  EXPECT_EQ(d["manifest"]["digest"], d["platforms"][1]["digest"]);
  // The scratch cache is gone.
  EXPECT_EQ(
      std::system(("ls -d " + dir_.path() + "/schedkitctl-inspect-* 2>/dev/null").c_str()) == 0,
      false);
}

TEST_F(CliTest, InspectShowsWhatTheAgentWouldRun) {
  buildFifo("fifo", {"--arg=--x", "--label", "team=k"});
  ASSERT_EQ(run({"image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1"}).rc, 0);
  for (const std::string& ref : {std::string("reg.test/scx/fifo:1"), "oci:" + (dir_ / "fifo:1")}) {
    auto r = run({"--output", "json", "image", "inspect", ref});
    ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
    json d = r.doc();
    for (const char* k :
         {"reference", "digest", "mediaType", "pinnedReference", "platforms", "platform",
          "manifest", "config", "layers", "labels", "annotations", "artifact", "signature"}) {
      EXPECT_TRUE(d.contains(k)) << k << " in " << r.out;
    }
    EXPECT_EQ(d["platforms"], json::array());
    EXPECT_EQ(d["labels"]["team"], "k");
    EXPECT_EQ(d["labels"]["io.schedkit.kernel.min"], "6.12");
    EXPECT_EQ(d["artifact"]["type"], "bpf-object");
    EXPECT_EQ(d["artifact"]["opsName"], "fifo");
    EXPECT_EQ(d["artifact"]["args"], json::array({"--x"}));
    EXPECT_FALSE(d["artifact"].contains("hostPath"));
    EXPECT_EQ(d["signature"]["status"], "unchecked");
  }
  auto t = run({"image", "inspect", "reg.test/scx/fifo:1"});
  ASSERT_EQ(t.rc, kExitOk);
  EXPECT_NE(t.out.find("not checked"), std::string::npos) << t.out;
  auto missing = run({"-o", "json", "image", "inspect", "reg.test/scx/nope:1"});
  EXPECT_EQ(missing.rc, kExitFailure);
  EXPECT_EQ(missing.doc()["error"]["code"], "NOT_FOUND") << missing.out;
}

TEST_F(CliTest, InspectChecksTheSignature) {
  std::string digest = buildFifo();
  ASSERT_EQ(run({"image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1"}).rc, 0);
  oci::testing::TestSigner signer, stranger;
  writeFile(dir_ / "good.pub", signer.publicPem());
  writeFile(dir_ / "other.pub", stranger.publicPem());
  auto unsignedImage = run(
      {"-o", "json", "image", "inspect", "reg.test/scx/fifo:1", "--verify-key", dir_ / "good.pub"});
  EXPECT_EQ(unsignedImage.rc, kExitFailure);
  EXPECT_EQ(unsignedImage.doc()["signature"]["status"], "failed") << unsignedImage.out;
  EXPECT_NE(unsignedImage.doc()["signature"]["error"].get<std::string>().find("not signed"),
            std::string::npos);
  EXPECT_EQ(unsignedImage.doc()["artifact"]["type"], "bpf-object");  // still described

  auto d = *oci::Digest::parse(digest);
  std::string payload = oci::testing::TestSigner::payload(d, "reg.test/scx/fifo");
  reg_.putBlob("scx/fifo", payload);
  reg_.putBlob("scx/fifo", "{}");
  oci::ImageManifest sig;
  sig.mediaType = std::string(oci::media::kOciManifest);
  sig.config = {std::string(oci::media::kOciConfig), oci::Digest::of("{}"), 2, {}, {}, {}};
  oci::Descriptor layer{std::string(oci::media::kCosignSimpleSigning),
                        oci::Digest::of(payload),
                        static_cast<std::int64_t>(payload.size()),
                        {},
                        {},
                        {}};
  layer.annotations[std::string(oci::kCosignSignatureAnnotation)] = signer.sign(payload);
  sig.layers = {layer};
  reg_.putManifest("scx/fifo", oci::cosignSignatureTag(d), sig.mediaType,
                   oci::imageManifestJson(sig));
  auto good = run(
      {"-o", "json", "image", "inspect", "reg.test/scx/fifo:1", "--verify-key", dir_ / "good.pub"});
  EXPECT_EQ(good.rc, kExitOk) << good.out;
  EXPECT_EQ(good.doc()["signature"]["status"], "verified");
  auto other = run({"image", "inspect", "reg.test/scx/fifo:1", "--verify-key", dir_ / "other.pub"});
  EXPECT_EQ(other.rc, kExitFailure);
  EXPECT_NE(other.out.find("Signature:      FAILED: "), std::string::npos) << other.out;
  // pull refuses outright.
  auto pull = run({"-o", "json", "image", "pull", "reg.test/scx/fifo:1", "--cache", dir_ / "cache",
                   "--verify-key", dir_ / "other.pub"});
  EXPECT_EQ(pull.rc, kExitFailure);
  EXPECT_EQ(pull.doc()["error"]["code"], "PERMISSION_DENIED");
  auto pulled = run({"-o", "json", "image", "pull", "reg.test/scx/fifo:1", "--cache",
                     dir_ / "cache", "--verify-key", dir_ / "good.pub"});
  EXPECT_EQ(pulled.rc, kExitOk) << pulled.out;
  EXPECT_EQ(pulled.doc()["signatureVerified"], true);
}

TEST_F(CliTest, PullUnpacksIntoTheCacheLikeTheAgent) {
  std::string digest = buildFifo();
  ASSERT_EQ(run({"image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1"}).rc, 0);
  auto r = run({"-o", "json", "image", "pull", "reg.test/scx/fifo:1", "--cache", dir_ / "cache"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  json d = r.doc();
  EXPECT_EQ(d["digest"], digest);
  EXPECT_EQ(d["pinnedReference"], "reg.test/scx/fifo@" + digest);
  EXPECT_EQ(d["fromCache"], false);
  EXPECT_EQ(d["rootfs"], dir_ / "cache/rootfs/" + digest.substr(7));
  EXPECT_EQ(d["artifact"]["hostPath"], d["rootfs"].get<std::string>() + "/fifo.bpf.o");
  EXPECT_EQ(readFile(d["artifact"]["hostPath"]), elfObject());
  EXPECT_EQ(r.err, "");  // no progress lines in JSON mode
  // Offline, from the cache; Never works, Always would need the registry.
  reg_.down = true;
  auto cached = run({"-o", "json", "image", "pull", "reg.test/scx/fifo:1", "--cache",
                     dir_ / "cache", "--policy", "Never"});
  ASSERT_EQ(cached.rc, kExitOk) << cached.out;
  EXPECT_EQ(cached.doc()["fromCache"], true);
  auto never = run(
      {"image", "pull", "reg.test/scx/other:1", "--cache", dir_ / "cache", "--policy", "Never"});
  EXPECT_EQ(never.rc, kExitFailure);
  EXPECT_NE(never.err.find("the pull policy is Never"), std::string::npos) << never.err;
}

TEST_F(CliTest, PullFromALayout) {
  buildFifo();
  auto r = run({"image", "pull", "oci:" + (dir_ / "fifo:1"), "--cache", dir_ / "cache"});
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Rootfs:"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("unpacking"), std::string::npos) << r.err;  // progress, text mode
}

TEST_F(CliTest, CredentialsFromFlagsStdinAndDockerConfig) {
  reg_.auth = oci::testing::FakeRegistry::Auth::kBasic;
  buildFifo();
  auto anon = run({"-o", "json", "image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1"});
  EXPECT_EQ(anon.rc, kExitFailure);
  EXPECT_EQ(anon.doc()["error"]["code"], "PERMISSION_DENIED") << anon.out;
  EXPECT_EQ(
      run({"image", "push", dir_ / "fifo:1", "reg.test/scx/fifo:1", "-u", "alice", "-p", "secret"})
          .rc,
      kExitOk);
  stdin_ = "secret\n";
  EXPECT_EQ(run({"image", "inspect", "reg.test/scx/fifo:1", "-u", "alice", "--password-stdin"}).rc,
            kExitOk);
  writeFile(dir_ / "auth.json",
            "{\"auths\":{\"reg.test\":{\"auth\":\"" + oci::base64Encode("alice:secret") + "\"}}}");
  EXPECT_EQ(
      run({"image", "inspect", "reg.test/scx/fifo:1", "--docker-config", dir_ / "auth.json"}).rc,
      kExitOk);
  // The default ~/.docker/config.json.
  ASSERT_EQ(std::system(("mkdir -p " + dir_.path() + "/.docker").c_str()), 0);
  writeFile(dir_ / ".docker/config.json", readFile(dir_ / "auth.json"));
  EXPECT_EQ(run({"image", "pull", "reg.test/scx/fifo:1", "--cache", dir_ / "c"}).rc, kExitOk);
  auto bad = run({"image", "inspect", "reg.test/scx/fifo:1", "--docker-config", dir_ / "nope"});
  EXPECT_EQ(bad.rc, kExitUsage);
}

}  // namespace
}  // namespace schedkit::cli
