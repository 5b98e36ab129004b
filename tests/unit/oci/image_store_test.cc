#include "schedkit/oci/image_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <future>
#include <thread>

#include "fakes/fake_registry.h"
#include "fakes/fixed_random.h"
#include "fakes/oci_fake_image_store.h"
#include "fakes/oci_image_builder.h"
#include "fakes/oci_signing.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/signature.h"

namespace schedkit::oci {
namespace {

using namespace testing;  // NOLINT: builders and fakes

class ImageStoreTest : public ::testing::Test {
 protected:
  ImageStoreTest() : log_(clock_, [](std::string_view) {}) {}

  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-images-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.cacheDir = dir_ + "/cache";
    opts_.platform = {"linux", "amd64", ""};
  }
  void TearDown() override { (void)removeTree(dir_); }

  OciImageStore& store() {
    if (!store_) {
      ImageStoreDeps deps{reg_.factory(), clock_, random_, log_, [](Duration) { return true; }};
      store_ = std::move(OciImageStore::create(std::move(deps), opts_).value());
    }
    return *store_;
  }

  std::string push(const BuiltImage& img, const std::string& repo, const std::string& tag) {
    for (const auto& [d, b] : img.blobs) reg_.putBlob(repo, b);
    return reg_.putManifest(repo, tag, img.manifestMediaType, img.manifest);
  }

  BuiltImage scheduler(const std::string& content = "#!/bin/sh\necho sched\n",
                       Compression c = Compression::kGzip, const std::string& arch = "amd64") {
    ImageSpec s;
    s.layers = {
        buildTar({dir("usr/"), dir("usr/bin/"), file("usr/bin/scx_test", content, 0755)}, c),
        buildTar({file("etc/scx.conf", "a=1")}, c)};
    s.layerMediaTypes = {layerMediaType(c), layerMediaType(c)};
    s.labels = schedulerLabels();
    s.arch = arch;
    return buildImage(s);
  }

  PullRequest req(const std::string& image, PullPolicy p = PullPolicy::kIfNotPresent) {
    PullRequest r;
    r.image = image;
    r.policy = p;
    return r;
  }

  std::string read(const std::string& path) {
    FILE* f = fopen(path.c_str(), "r");
    if (!f) return "<missing>";
    std::string out;
    char buf[256];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    fclose(f);
    return out;
  }
  int countEntries(const std::string& sub) {
    std::string cmd = "ls -A " + opts_.cacheDir + "/" + sub + " 2>/dev/null | wc -l";
    FILE* p = popen(cmd.c_str(), "r");
    int n = 0;
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
    return n;
  }

  SimClock clock_;
  FixedRandom random_{7};
  Logger log_;
  FakeRegistry reg_;
  ImageStoreOptions opts_;
  std::string dir_;
  std::unique_ptr<OciImageStore> store_;
};

TEST_F(ImageStoreTest, PullsUnpacksAndReadsTheConvention) {
  auto img = scheduler();
  std::string d = push(img, "scx/test", "v1");
  std::vector<std::string> phases;
  auto r = req("reg.test/scx/test:v1");
  r.onProgress = [&](const PullProgress& p) {
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
  };
  auto got = store().pull(r);
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(got->digest.toString(), d);
  EXPECT_EQ(got->pinnedReference(), "reg.test/scx/test@" + d);
  EXPECT_FALSE(got->fromCache);
  EXPECT_EQ(got->artifact.type, ArtifactType::kBinary);
  EXPECT_EQ(got->artifact.args, (std::vector<std::string>{"--fast", "-v"}));
  EXPECT_EQ(got->artifact.kernelMin, "6.12");
  EXPECT_EQ(got->artifact.hostPath, got->rootfs + "/usr/bin/scx_test");
  EXPECT_EQ(read(got->rootfs + "/etc/scx.conf"), "a=1");
  EXPECT_EQ(phases, (std::vector<std::string>{"resolving", "downloading", "unpacking", "done"}));
  struct stat st {};
  ASSERT_EQ(stat(got->rootfs.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);  // read-only
  EXPECT_EQ(countEntries("tmp"), 0);

  // IfNotPresent and Never: straight from the cache, no registry traffic.
  int before = static_cast<int>(reg_.requests().size());
  auto again = store().pull(req("reg.test/scx/test:v1"));
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_TRUE(again->fromCache);
  EXPECT_EQ(again->rootfs, got->rootfs);
  EXPECT_TRUE(store().pull(req("reg.test/scx/test@" + d, PullPolicy::kNever)).isOk());
  EXPECT_EQ(static_cast<int>(reg_.requests().size()), before);
}

TEST_F(ImageStoreTest, DigestPinnedCachedImageWorksWithRegistryDown) {
  std::string d = push(scheduler(), "scx/test", "v1");
  ASSERT_TRUE(store().pull(req("reg.test/scx/test@" + d, PullPolicy::kAlways)).isOk());
  reg_.down = true;
  for (auto p : {PullPolicy::kAlways, PullPolicy::kIfNotPresent, PullPolicy::kNever}) {
    auto r = store().pull(req("reg.test/scx/test@" + d, p));
    ASSERT_TRUE(r.isOk()) << toString(p) << ": " << r.status().toString();
    EXPECT_TRUE(r->fromCache);
  }
  // A tag under Always must ask the registry.
  auto tag = store().pull(req("reg.test/scx/test:v1", PullPolicy::kAlways));
  EXPECT_EQ(tag.status().code(), StatusCode::kUnavailable);
}

TEST_F(ImageStoreTest, NeverWithoutCacheIsAClearError) {
  auto r = store().pull(req("reg.test/scx/test:v1", PullPolicy::kNever));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not in the cache and the pull policy is Never"),
            std::string::npos);
  EXPECT_TRUE(reg_.requests().empty());
}

TEST_F(ImageStoreTest, AlwaysFollowsAMovedTag) {
  push(scheduler("v1"), "scx/test", "latest");
  auto a = store().pull(req("reg.test/scx/test", PullPolicy::kAlways));
  ASSERT_TRUE(a.isOk());
  std::string d2 = push(scheduler("v2"), "scx/test", "latest");
  auto b = store().pull(req("reg.test/scx/test", PullPolicy::kAlways));
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->digest.toString(), d2);
  EXPECT_EQ(read(b->artifact.hostPath), "v2");
  // IfNotPresent keeps what it has for the tag.
  std::string d3 = push(scheduler("v3"), "scx/test", "latest");
  EXPECT_EQ(store().pull(req("reg.test/scx/test"))->digest.toString(), d2);
  (void)d3;
}

TEST_F(ImageStoreTest, MultiArchIndexSelectsThePlatform) {
  auto amd = scheduler("amd64 build", Compression::kGzip, "amd64");
  auto arm = scheduler("arm64 build", Compression::kZstd, "arm64");
  push(amd, "scx/multi", "");
  push(arm, "scx/multi", "");
  Platform pa{"linux", "amd64", ""}, pr{"linux", "arm64", "v8"};
  ImageIndex idx;
  idx.mediaType = std::string(media::kOciIndex);
  idx.manifests = {amd.descriptor(&pa), arm.descriptor(&pr)};
  std::string idxDigest = reg_.putManifest("scx/multi", "v1", idx.mediaType, imageIndexJson(idx));
  auto r = store().pull(req("reg.test/scx/multi:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->digest.toString(), idxDigest);
  EXPECT_EQ(r->manifestDigest, amd.digest);
  EXPECT_EQ(read(r->artifact.hostPath), "amd64 build");
  auto armReq = req("reg.test/scx/multi:v1", PullPolicy::kAlways);
  armReq.platform = pr;
  auto ra = store().pull(armReq);
  ASSERT_TRUE(ra.isOk()) << ra.status().toString();
  EXPECT_EQ(read(ra->artifact.hostPath), "arm64 build");
  auto s390 = req("reg.test/scx/multi:v1", PullPolicy::kAlways);
  s390.platform = Platform{"linux", "s390x", ""};
  auto none = store().pull(s390);
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(
      none.status().message().find(
          "no image for platform linux/s390x in the index (it has: linux/amd64, linux/arm64/v8)"),
      std::string::npos)
      << none.status().message();
}

TEST_F(ImageStoreTest, DockerSchema2AndManifestList) {
  ImageSpec s;
  s.layers = {buildTar({file("usr/bin/scx_test", "docker", 0755)})};
  s.labels = schedulerLabels();
  s.manifestMediaType = std::string(media::kDockerManifest);
  auto img = buildImage(s);
  push(img, "scx/docker", "");
  Platform pa{"linux", "amd64", ""};
  ImageIndex list;
  list.mediaType = std::string(media::kDockerManifestList);
  list.manifests = {img.descriptor(&pa)};
  reg_.putManifest("scx/docker", "v1", list.mediaType, imageIndexJson(list));
  auto r = store().pull(req("reg.test/scx/docker:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(read(r->artifact.hostPath), "docker");
}

TEST_F(ImageStoreTest, SignedImages) {
  TestSigner signer, stranger;
  auto img = scheduler();
  std::string d = push(img, "scx/signed", "v1");
  // The signature manifest: one simple-signing layer with the signature annotation.
  std::string payload = TestSigner::payload(img.digest, "reg.test/scx/signed");
  reg_.putBlob("scx/signed", payload);
  std::string emptyCfg = "{}";
  reg_.putBlob("scx/signed", emptyCfg);
  ImageManifest sig;
  sig.mediaType = std::string(media::kOciManifest);
  sig.config = {"application/vnd.oci.image.config.v1+json", Digest::of(emptyCfg), 2, {}, {}, {}};
  Descriptor layer{std::string(media::kCosignSimpleSigning),
                   Digest::of(payload),
                   static_cast<std::int64_t>(payload.size()),
                   {},
                   {},
                   {}};
  layer.annotations[std::string(kCosignSignatureAnnotation)] = signer.sign(payload);
  sig.layers = {layer};
  reg_.putManifest("scx/signed", cosignSignatureTag(img.digest), sig.mediaType,
                   imageManifestJson(sig));

  auto r = req("reg.test/scx/signed:v1", PullPolicy::kAlways);
  r.verifyKeyPem = stranger.publicPem();
  auto wrong = store().pull(r);
  ASSERT_FALSE(wrong.isOk());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("does not verify with the given key"), std::string::npos)
      << wrong.status().message();
  EXPECT_FALSE(store().contentStore().hasRootfs(img.digest));  // refused before unpacking

  r.verifyKeyPem = signer.publicPem();
  auto ok = store().pull(r);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_TRUE(ok->signatureVerified);

  // Offline: the cached signature is checked again, with the same key only.
  reg_.down = true;
  auto cached = req("reg.test/scx/signed@" + d);
  cached.verifyKeyPem = signer.publicPem();
  auto c = store().pull(cached);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_TRUE(c->fromCache);
  EXPECT_TRUE(c->signatureVerified);
  cached.verifyKeyPem = stranger.publicPem();
  EXPECT_FALSE(store().pull(cached).isOk());
}

TEST_F(ImageStoreTest, UnsignedAndTamperedImagesAreRefused) {
  TestSigner signer;
  auto img = scheduler();
  push(img, "scx/unsigned", "v1");
  auto r = req("reg.test/scx/unsigned:v1");
  r.verifyKeyPem = signer.publicPem();
  auto unsigned_ = store().pull(r);
  ASSERT_FALSE(unsigned_.isOk());
  EXPECT_NE(unsigned_.status().message().find(
                "the image is not signed: no signature manifest at tag sha256-"),
            std::string::npos)
      << unsigned_.status().message();

  // A payload altered after signing.
  std::string payload = TestSigner::payload(img.digest);
  std::string sigB64 = signer.sign(payload);
  std::string tampered = payload;
  tampered.replace(tampered.find("reg.test/img"), 3, "evil");
  reg_.putBlob("scx/unsigned", tampered);
  ImageManifest sig;
  sig.mediaType = std::string(media::kOciManifest);
  reg_.putBlob("scx/unsigned", "{}");
  sig.config = {std::string(media::kOciConfig), Digest::of("{}"), 2, {}, {}, {}};
  Descriptor layer{std::string(media::kCosignSimpleSigning),
                   Digest::of(tampered),
                   static_cast<std::int64_t>(tampered.size()),
                   {},
                   {},
                   {}};
  layer.annotations[std::string(kCosignSignatureAnnotation)] = sigB64;
  sig.layers = {layer};
  reg_.putManifest("scx/unsigned", cosignSignatureTag(img.digest), sig.mediaType,
                   imageManifestJson(sig));
  auto t = store().pull(r);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(t.status().message().find("tampered"), std::string::npos) << t.status().message();
}

struct BadImage {
  std::string name;
  std::function<void(ImageSpec&)> mutate;
  StatusCode code;
  std::string message;
};

class BadImageTest : public ImageStoreTest, public ::testing::WithParamInterface<BadImage> {};

TEST_P(BadImageTest, RefusedClearlyAndNothingLeftBehind) {
  ImageSpec s;
  s.layers = {buildTar({file("usr/bin/scx_test", "x", 0755)})};
  s.labels = schedulerLabels();
  GetParam().mutate(s);
  push(buildImage(s), "scx/bad", "v1");
  auto r = store().pull(req("reg.test/scx/bad:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), GetParam().code) << r.status().toString();
  EXPECT_NE(r.status().message().find(GetParam().message), std::string::npos)
      << r.status().toString();
  EXPECT_NE(r.status().message().find("reg.test/scx/bad:v1"), std::string::npos)
      << r.status().toString();
  EXPECT_EQ(countEntries("tmp"), 0);
  EXPECT_EQ(countEntries("rootfs"), 0);
  EXPECT_EQ(countEntries("refs"), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadImageTest,
    ::testing::Values(
        BadImage{"path_traversal",
                 [](ImageSpec& s) { s.layers.push_back(buildTar({file("../../escape", "x")})); },
                 StatusCode::kPermissionDenied, "entry \"../../escape\" contains \"..\""},
        BadImage{"symlink_escape",
                 [](ImageSpec& s) {
                   s.layers.push_back(buildTar({symlink("l", "/../.."), file("l/x", "y")}));
                 },
                 StatusCode::kPermissionDenied, "leaves the image root"},
        BadImage{"device_node",
                 [](ImageSpec& s) {
                   s.layers.push_back(buildTar({{TarEntry::kCharDev, "dev/mem", "", "", 0600, 0}}));
                 },
                 StatusCode::kPermissionDenied, "entry \"dev/mem\": device nodes are not allowed"},
        BadImage{"layer_media_type",
                 [](ImageSpec& s) { s.layerMediaTypes = {"application/x-shellscript"}; },
                 StatusCode::kInvalidArgument, "is \"application/x-shellscript\", not a tar layer"},
        BadImage{"config_media_type", [](ImageSpec& s) { s.configMediaType = "application/x-foo"; },
                 StatusCode::kInvalidArgument,
                 "config media type \"application/x-foo\" is not an image config"},
        BadImage{"no_labels", [](ImageSpec& s) { s.labels.clear(); }, StatusCode::kInvalidArgument,
                 "not a schedkit scheduler image"},
        BadImage{"path_not_in_rootfs",
                 [](ImageSpec& s) { s.labels["io.schedkit.scheduler.path"] = "/nope"; },
                 StatusCode::kFailedPrecondition, "\"/nope\" is not in the image filesystem"},
        BadImage{"diff_id_mismatch", [](ImageSpec& s) { s.diffIds = {Digest::of("not the tar")}; },
                 StatusCode::kDataLoss, "uncompressed content (config diff_id): digest mismatch"},
        BadImage{"diff_id_count",
                 [](ImageSpec& s) {
                   s.diffIds = {Digest::of("a"), Digest::of("b")};
                 },
                 StatusCode::kInvalidArgument, "the config lists 2 diff_ids for 1 layers"},
        BadImage{"wrong_arch", [](ImageSpec& s) { s.arch = "arm64"; },
                 StatusCode::kFailedPrecondition,
                 "the image is for linux/arm64, this node is linux/amd64"}),
    [](const ::testing::TestParamInfo<BadImage>& p) { return p.param.name; });

TEST_F(ImageStoreTest, MissingAndCorruptBlobs) {
  auto img = scheduler();
  push(img, "scx/test", "v1");
  ImageManifest m = *parseImageManifest(img.manifest, media::kOciManifest);
  reg_.deleteBlob("scx/test", m.layers[1].digest.toString());
  auto r = store().pull(req("reg.test/scx/test:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("missing blob"), std::string::npos) << r.status().message();
  auto other = scheduler("another binary");
  push(other, "scx/corrupt", "v1");
  ImageManifest om = *parseImageManifest(other.manifest, media::kOciManifest);
  reg_.corruptBlobs.insert(om.layers[0].digest.toString());
  auto c = store().pull(req("reg.test/scx/corrupt:v1"));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), StatusCode::kDataLoss) << c.status().toString();
  EXPECT_NE(c.status().message().find("digest mismatch"), std::string::npos)
      << c.status().toString();
  EXPECT_EQ(countEntries("tmp"), 0);
  EXPECT_FALSE(store().contentStore().hasBlob(om.layers[0].digest));
}

TEST_F(ImageStoreTest, GzipBombCappedByLimits) {
  opts_.limits.maxBytes = 4 << 20;
  ImageSpec s;
  TarEntry bomb = file("usr/bin/scx_test", "");
  bomb.zeros = 32 << 20;
  s.layers = {buildTar({bomb})};
  s.labels = schedulerLabels();
  push(buildImage(s), "scx/bomb", "v1");
  auto r = store().pull(req("reg.test/scx/bomb:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("entry \"usr/bin/scx_test\""), std::string::npos)
      << r.status().message();
  EXPECT_EQ(countEntries("tmp"), 0);
  EXPECT_EQ(countEntries("rootfs"), 0);
}

TEST_F(ImageStoreTest, PullsFromAnOciLayout) {
  auto img = scheduler("from a layout");
  OciLayout layout(dir_ + "/layout");
  ASSERT_TRUE(layout.init().isOk());
  for (const auto& [d, b] : img.blobs) ASSERT_TRUE(layout.putBlob(b).isOk());
  ASSERT_TRUE(layout.putBlob(img.manifest).isOk());
  ASSERT_TRUE(layout.tag(img.descriptor(), "v1").isOk());
  auto r = store().pull(req("oci:" + dir_ + "/layout:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(read(r->artifact.hostPath), "from a layout");
  EXPECT_EQ(r->pinnedReference(), "oci:" + dir_ + "/layout@" + img.digest.toString());
  auto missing = store().pull(req("oci:" + dir_ + "/layout:v2"));
  EXPECT_NE(missing.status().message().find("no image tagged \"v2\""), std::string::npos);
}

TEST_F(ImageStoreTest, GarbageCollection) {
  push(scheduler("one"), "scx/a", "v1");
  push(scheduler("two"), "scx/b", "v1");
  ASSERT_TRUE(store().pull(req("reg.test/scx/a:v1")).isOk());
  auto b = store().pull(req("reg.test/scx/b:v1"));
  ASSERT_TRUE(b.isOk());
  auto kept = store().garbageCollect({});
  ASSERT_TRUE(kept.isOk());
  EXPECT_EQ(kept->blobsRemoved, 0);
  GcOptions keepB;
  keepB.keepReferences = std::set<std::string>{"reg.test/scx/b:v1"};
  auto st = store().garbageCollect(keepB);
  ASSERT_TRUE(st.isOk());
  EXPECT_EQ(st->recordsRemoved, 3);  // a:v1, a@digest and b@digest
  EXPECT_EQ(st->rootsRemoved, 1);
  EXPECT_GE(st->blobsRemoved, 2);  // a's manifest and layers; the shared config stays
  EXPECT_TRUE(store().contentStore().hasRootfs(b->manifestDigest));
  reg_.down = true;
  EXPECT_TRUE(store().pull(req("reg.test/scx/b:v1", PullPolicy::kNever)).isOk());
}

TEST_F(ImageStoreTest, InspectResolvesWithoutLayers) {
  auto img = scheduler();
  std::string d = push(img, "scx/test", "v1");
  auto info = store().inspect(req("reg.test/scx/test:v1"));
  ASSERT_TRUE(info.isOk()) << info.status().toString();
  EXPECT_EQ(info->digest.toString(), d);
  EXPECT_EQ(info->pinnedReference(), "reg.test/scx/test@" + d);
  EXPECT_EQ(info->artifact.path, "/usr/bin/scx_test");
  EXPECT_TRUE(info->artifact.hostPath.empty());
  EXPECT_EQ(info->layers.size(), 2u);
  EXPECT_EQ(info->platform.toString(), "linux/amd64");
  EXPECT_EQ(reg_.count("/blobs/sha256:" + info->layers[0].digest.hex()), 0);  // no layer fetched
  EXPECT_EQ(countEntries("rootfs"), 0);
  EXPECT_EQ(countEntries("refs"), 0);
  TestSigner signer;
  auto signedReq = req("reg.test/scx/test:v1");
  signedReq.verifyKeyPem = signer.publicPem();
  EXPECT_EQ(store().inspect(signedReq).status().code(), StatusCode::kPermissionDenied);
}

TEST_F(ImageStoreTest, ConcurrentPullsOfOneImageShareTheCache) {
  // Two stores on one directory, as two agents (or agent and schedkitctl) would be.
  push(scheduler("shared"), "scx/test", "v1");
  std::vector<std::unique_ptr<OciImageStore>> stores;
  for (int i = 0; i < 2; ++i) {
    ImageStoreDeps deps{reg_.factory(), clock_, random_, log_, [](Duration) { return true; }};
    stores.push_back(std::move(OciImageStore::create(std::move(deps), opts_).value()));
  }
  std::vector<std::optional<Result<PulledImage>>> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(
        [&, i] { results[i].emplace(stores[i % 2]->pull(req("reg.test/scx/test:v1"))); });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    ASSERT_TRUE(r->isOk()) << r->status().toString();
    EXPECT_EQ((*r)->rootfs, (*results[0])->rootfs);
    EXPECT_EQ(read((*r)->artifact.hostPath), "shared");
  }
  EXPECT_EQ(countEntries("tmp"), 0);
  EXPECT_EQ(countEntries("rootfs"), 1);
}

TEST_F(ImageStoreTest, CancelledStoreRefusesPulls) {
  push(scheduler(), "scx/test", "v1");
  store().cancel();
  auto r = store().pull(req("reg.test/scx/test:v1"));
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(reg_.requests().empty());
}

TEST_F(ImageStoreTest, PullerDeliversResultsThroughPost) {
  push(scheduler(), "scx/test", "v1");
  std::mutex mu;
  std::vector<std::function<void()>> posted;
  std::promise<void> arrived;
  ImagePuller puller(store(), [&](std::function<void()> fn) {
    std::lock_guard lk(mu);
    posted.push_back(std::move(fn));
    arrived.set_value();
  });
  std::optional<Result<PulledImage>> result;
  puller.pull(req("reg.test/scx/test:v1"),
              [&](Result<PulledImage> r) { result.emplace(std::move(r)); });
  arrived.get_future().wait();
  EXPECT_FALSE(result.has_value());  // nothing runs until the loop runs what was posted
  std::vector<std::function<void()>> run;
  {
    std::lock_guard lk(mu);
    run.swap(posted);
  }
  for (auto& f : run) f();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->isOk()) << result->status().toString();
}

TEST(ImagePullerWithFakeStore, ResultsArriveInOrderThroughThePostedQueue) {
  FakeImageStore store;
  PostedQueue loop;
  store.succeed("reg.test/a:v1", "a", {"--x"});
  store.set("reg.test/b:v1", Result<PulledImage>(permissionDenied("the image is not signed")));
  std::vector<std::string> seen;
  {
    ImagePuller puller(store, loop.post());
    puller.pull(
        PullRequest{"reg.test/a:v1", PullPolicy::kAlways, {}, std::nullopt, std::nullopt, nullptr},
        [&](Result<PulledImage> r) { seen.push_back(r.isOk() ? r->artifact.opsName : "?"); });
    puller.pull(
        PullRequest{
            "reg.test/b:v1", PullPolicy::kIfNotPresent, {}, std::nullopt, std::nullopt, nullptr},
        [&](Result<PulledImage> r) { seen.push_back(r.status().message()); });
    loop.runNext(2);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "the image is not signed"}));
  ASSERT_EQ(store.requests().size(), 2u);
  EXPECT_EQ(store.requests()[0].policy, PullPolicy::kAlways);
  EXPECT_TRUE(store.cancelled());  // the puller's destructor cancels the store
}

}  // namespace
}  // namespace schedkit::oci
