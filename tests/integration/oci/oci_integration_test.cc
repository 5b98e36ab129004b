// OCI integration tests against the real docker-registry (distribution 2.8) started by
// hack/testenv/registry-up.sh, with skopeo and the real cosign CLI. One suite per registry mode;
// ctest runs each against its own registry (tests/integration/oci/CMakeLists.txt).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/oci_image_builder.h"
#include "schedkit/common/logger.h"
#include "schedkit/net/http.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/signature.h"

namespace schedkit::oci {
namespace {

using namespace testing;  // NOLINT: image builders

struct Cmd {
  int rc;
  std::string out;
};

Cmd run(const std::string& cmd) {
  FILE* p = popen(("(" + cmd + ") 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// DIR/env of registry-up.sh: "export KEY=value" lines, values in printf %q form.
std::map<std::string, std::string> loadEnv(const std::string& path) {
  std::map<std::string, std::string> env;
  std::istringstream in(readFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("export ", 0) != 0) continue;
    line = line.substr(7);
    auto eq = line.find('=');
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (v == "''") v.clear();
    std::string un;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      un += v[i];
    }
    env[k] = un;
  }
  return env;
}

class Registry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* dir = std::getenv("SCHEDKIT_OCI_REGISTRY_DIR");
    const char* work = std::getenv("SCHEDKIT_OCI_WORK");
    ASSERT_TRUE(dir && work) << "run through ctest (SCHEDKIT_OCI_REGISTRY_DIR, SCHEDKIT_OCI_WORK)";
    env_ = loadEnv(std::string(dir) + "/env");
    ASSERT_FALSE(env_["REGISTRY_HOST"].empty()) << "registry env missing in " << dir;
    work_ = work;
    (void)removeTree(work_);
    ASSERT_EQ(run("mkdir -p " + q(work_)).rc, 0);
  }

  void SetUp() override {
    caseDir_ = work_ + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)removeTree(caseDir_);
    ASSERT_EQ(run("mkdir -p " + q(caseDir_ + "/outside")).rc, 0);
    std::ofstream(caseDir_ + "/outside/sentinel") << "untouched";
  }

  static std::string host() { return env_["REGISTRY_HOST"]; }
  static bool tls() { return env_["REGISTRY_TLS"] == "1"; }

  static std::string skopeoDest() {
    std::string f =
        tls() ? " --dest-cert-dir " + q(env_["REGISTRY_CERT_DIR"]) : " --dest-tls-verify=false";
    if (!env_["REGISTRY_AUTHFILE"].empty()) f += " --dest-authfile " + q(env_["REGISTRY_AUTHFILE"]);
    return f;
  }
  static std::string skopeoSrc() {
    std::string f =
        tls() ? " --src-cert-dir " + q(env_["REGISTRY_CERT_DIR"]) : " --src-tls-verify=false";
    if (!env_["REGISTRY_AUTHFILE"].empty()) f += " --src-authfile " + q(env_["REGISTRY_AUTHFILE"]);
    return f;
  }

  // Writes `img` (and extra manifests) into an OCI layout tagged `tag`.
  void writeLayout(const std::string& dir, const BuiltImage& img, const std::string& tag) {
    OciLayout l(dir);
    ASSERT_TRUE(l.init().isOk());
    for (const auto& [d, b] : img.blobs) ASSERT_TRUE(l.putBlob(b).isOk());
    ASSERT_TRUE(l.putBlob(img.manifest).isOk());
    ASSERT_TRUE(l.tag(img.descriptor(), tag).isOk());
  }

  void skopeoCopy(const std::string& layout, const std::string& tag, const std::string& dest,
                  bool all = false) {
    auto c = run("skopeo copy --quiet --preserve-digests" + std::string(all ? " --all" : "") +
                 skopeoDest() + " oci:" + q(layout) + ":" + tag + " docker://" + dest);
    ASSERT_EQ(c.rc, 0) << c.out;
  }

  BuiltImage scheduler(const std::string& body = "#!/bin/sh\nexec sleep 1\n",
                       const std::string& arch = "amd64", Compression c = Compression::kGzip) {
    ImageSpec s;
    s.layers = {buildTar({dir("usr/"), dir("usr/bin/"), file("usr/bin/scx_test", body, 0755)}, c),
                buildTar({file("etc/scx.conf", "arch=" + arch)}, c)};
    s.layerMediaTypes = {layerMediaType(c), layerMediaType(c)};
    s.labels = schedulerLabels();
    s.arch = arch;
    return buildImage(s);
  }

  std::unique_ptr<OciImageStore> store(
      const std::string& name = "cache",
      const std::function<void(ImageStoreOptions&)>& tweak = nullptr) {
    ImageStoreOptions o;
    o.cacheDir = caseDir_ + "/" + name;
    o.platform = Platform{"linux", "amd64", ""};
    o.registry.maxAttempts = 2;
    o.registry.backoff.initial = std::chrono::milliseconds(50);
    if (tls()) o.registry.hosts[host()].tls.caFile = env_["REGISTRY_CA"];
    if (tweak) tweak(o);
    ImageStoreDeps deps{[](const net::TlsConfig& t) { return net::makeCpprestTransport(t); },
                        clock_, random_, log_, nullptr};
    return std::move(OciImageStore::create(std::move(deps), o).value());
  }

  Keychain keys() {
    Keychain k;
    if (!env_["REGISTRY_AUTHFILE"].empty()) {
      EXPECT_TRUE(k.addDockerConfigJson(readFile(env_["REGISTRY_AUTHFILE"])).isOk());
    }
    return k;
  }

  PullRequest req(const std::string& image, PullPolicy p = PullPolicy::kIfNotPresent) {
    PullRequest r;
    r.image = image;
    r.policy = p;
    r.credentials = keys();
    return r;
  }

  // schedkit pushes (RegistryClient), skopeo reads the manifest back, schedkit pulls it.
  void pushReadBackPull(const std::string& repo) {
    auto img = scheduler("pushed by schedkit to " + repo);
    RegistryClientOptions o;
    if (tls()) o.hosts[host()].tls.caFile = env_["REGISTRY_CA"];
    RegistryClient client({[](const net::TlsConfig& t) { return net::makeCpprestTransport(t); },
                           clock_, random_, log_, nullptr, nullptr, nullptr},
                          o);
    Reference ref = *parseReference(host() + "/" + repo + ":v1");
    Keychain k = keys();
    ImageManifest m = *parseImageManifest(img.manifest, img.manifestMediaType);
    for (const Descriptor* d : {&m.config, &m.layers[0], &m.layers[1]}) {
      ASSERT_TRUE(client.pushBlob(ref, *d, img.blobs.at(d->digest.toString()), k).isOk());
    }
    auto pushed = client.pushManifest(ref, "v1", img.manifestMediaType, img.manifest, k);
    ASSERT_TRUE(pushed.isOk()) << pushed.status().toString();
    EXPECT_EQ(*pushed, img.digest);
    std::string flags =
        tls() ? " --cert-dir " + q(env_["REGISTRY_CERT_DIR"]) : " --tls-verify=false";
    if (!env_["REGISTRY_AUTHFILE"].empty()) flags += " --authfile " + q(env_["REGISTRY_AUTHFILE"]);
    auto inspect = run("skopeo inspect --raw" + flags + " docker://" + host() + "/" + repo +
                       ":v1 2>/dev/null");
    ASSERT_EQ(inspect.rc, 0) << inspect.out;
    if (!inspect.out.empty() && inspect.out.back() == '\n') inspect.out.pop_back();
    EXPECT_EQ(Digest::of(inspect.out), img.digest);
    auto r = store("pushcache")->pull(req(host() + "/" + repo + ":v1"));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(readFile(r->artifact.hostPath), "pushed by schedkit to " + repo);
  }

  // Nothing escaped: the sentinel is intact, no planted file exists anywhere under the case dir
  // or /tmp, and the cache holds no temp or root left from the failure.
  void expectNothingOutside(bool noRoots = true, const std::string& cacheName = "cache") {
    EXPECT_EQ(readFile(caseDir_ + "/outside/sentinel"), "untouched");
    auto f = run("find " + q(caseDir_) + " /tmp -maxdepth 6 -name 'pwned*' 2>/dev/null");
    EXPECT_EQ(f.out, "") << "files written outside the root";
    EXPECT_EQ(run("ls -A " + q(caseDir_ + "/" + cacheName + "/tmp")).out, "");
    if (noRoots) {
      EXPECT_EQ(run("ls -A " + q(caseDir_ + "/" + cacheName + "/rootfs")).out, "");
    }
  }

  static std::map<std::string, std::string> env_;
  static std::string work_;
  std::string caseDir_;
  RealClock clock_;
  RealRandom random_;
  Logger log_ = Logger::stderrLogger(clock_, LogFormat::kText, LogLevel::kWarn);
};

std::map<std::string, std::string> Registry::env_;
std::string Registry::work_;

// --- plain HTTP: interop, multi-arch, cosign, hostile images -----------------------------------

class PlainRegistry : public Registry {
 protected:
  // Pushes blobs and a manifest exactly as given (no client-side checks), for hostile images.
  void rawPush(const std::string& repo, const std::string& tag, const BuiltImage& img) {
    auto t = net::makeCpprestTransport({});
    ASSERT_TRUE(t.isOk());
    std::string base = "http://" + host();
    for (const auto& [d, b] : img.blobs) {
      net::HttpRequest post;
      post.method = "POST";
      post.url = base + "/v2/" + repo + "/blobs/uploads/";
      auto r = (*t)->send(post);
      ASSERT_TRUE(r.isOk() && r->status == 202) << (r.isOk() ? r->body : r.status().toString());
      std::string loc = net::resolveUrl(post.url, r->headers.get("location").value_or(""));
      net::HttpRequest put;
      put.method = "PUT";
      put.url =
          loc + (loc.find('?') == std::string::npos ? "?" : "&") + "digest=" + net::urlEncode(d);
      put.headers.set("content-type", "application/octet-stream");
      put.body = b;
      auto pr = (*t)->send(put);
      ASSERT_TRUE(pr.isOk() && pr->status == 201)
          << (pr.isOk() ? pr->body : pr.status().toString());
    }
    net::HttpRequest put;
    put.method = "PUT";
    put.url = base + "/v2/" + repo + "/manifests/" + tag;
    put.headers.set("content-type", img.manifestMediaType);
    put.body = img.manifest;
    auto pr = (*t)->send(put);
    ASSERT_TRUE(pr.isOk() && pr->status == 201) << (pr.isOk() ? pr->body : pr.status().toString());
  }

  std::string blobDataPath(const Digest& d) {
    return env_["REGISTRY_DIR"] + "/data/docker/registry/v2/blobs/sha256/" + d.hex().substr(0, 2) +
           "/" + d.hex() + "/data";
  }

  std::string cosign() {
    auto c = run(q(std::string(SCHEDKIT_SOURCE_DIR) + "/hack/cosign.sh"));
    EXPECT_EQ(c.rc, 0) << c.out;
    std::string p = c.out;
    while (!p.empty() && (p.back() == '\n')) p.pop_back();
    return p.substr(p.rfind('\n') + 1);
  }
};

TEST_F(PlainRegistry, PullsWhatSkopeoCopiedIn) {
  auto img = scheduler("#!/bin/sh\necho skopeo\n");
  writeLayout(caseDir_ + "/layout", img, "v1");
  skopeoCopy(caseDir_ + "/layout", "v1", host() + "/scx/interop:v1");
  auto s = store();
  auto r = s->pull(req(host() + "/scx/interop:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->digest, img.digest);  // --preserve-digests: the same bytes end to end
  EXPECT_EQ(readFile(r->artifact.hostPath), "#!/bin/sh\necho skopeo\n");
  EXPECT_EQ(readFile(r->rootfs + "/etc/scx.conf"), "arch=amd64");
  EXPECT_EQ(r->artifact.args, (std::vector<std::string>{"--fast", "-v"}));

  // hack/testenv/make-oci-image.sh's tiny image is a fine OCI image but no scheduler image.
  auto made = run(q(std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/make-oci-image.sh") + " " +
                  q(caseDir_ + "/tiny") + " v1");
  ASSERT_EQ(made.rc, 0) << made.out;
  skopeoCopy(caseDir_ + "/tiny", "v1", host() + "/test/tiny:v1");
  auto tiny = s->pull(req(host() + "/test/tiny:v1"));
  ASSERT_FALSE(tiny.isOk());
  EXPECT_NE(tiny.status().message().find("not a schedkit scheduler image"), std::string::npos)
      << tiny.status().toString();

  // And back: skopeo reads what schedkit would run.
  auto inspect = run("skopeo inspect --raw --tls-verify=false docker://" + host() +
                     "/scx/interop:v1 2>/dev/null");
  ASSERT_EQ(inspect.rc, 0);
  if (!inspect.out.empty() && inspect.out.back() == '\n') inspect.out.pop_back();
  EXPECT_EQ(Digest::of(inspect.out), img.digest);
}

TEST_F(PlainRegistry, MultiArchIndexPicksTheHostPlatform) {
  auto amd = scheduler("amd64 build", "amd64", Compression::kGzip);
  auto arm = scheduler("arm64 build", "arm64", Compression::kZstd);
  std::string layout = caseDir_ + "/multi";
  OciLayout l(layout);
  ASSERT_TRUE(l.init().isOk());
  for (const auto* img : {&amd, &arm}) {
    for (const auto& [d, b] : img->blobs) ASSERT_TRUE(l.putBlob(b).isOk());
    ASSERT_TRUE(l.putBlob(img->manifest).isOk());
  }
  Platform pa{"linux", "amd64", ""}, pr{"linux", "arm64", "v8"};
  ImageIndex idx;
  idx.mediaType = std::string(media::kOciIndex);
  idx.manifests = {amd.descriptor(&pa), arm.descriptor(&pr)};
  std::string idxBody = imageIndexJson(idx);
  ASSERT_TRUE(l.putBlob(idxBody).isOk());
  ASSERT_TRUE(l.tag({std::string(media::kOciIndex),
                     Digest::of(idxBody),
                     static_cast<std::int64_t>(idxBody.size()),
                     {},
                     {},
                     {}},
                    "v1")
                  .isOk());
  skopeoCopy(layout, "v1", host() + "/scx/multi:v1", /*all=*/true);

  auto s = store();
  auto r = s->pull(req(host() + "/scx/multi:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->digest, Digest::of(idxBody));
  EXPECT_EQ(r->manifestDigest, amd.digest);
  EXPECT_EQ(readFile(r->artifact.hostPath), "amd64 build");
  auto armReq = req(host() + "/scx/multi:v1", PullPolicy::kAlways);
  armReq.platform = pr;
  auto ra = s->pull(armReq);
  ASSERT_TRUE(ra.isOk()) << ra.status().toString();
  EXPECT_EQ(readFile(ra->artifact.hostPath), "arm64 build");  // the zstd layers

  // An index without this node's platform.
  ImageIndex armOnly;
  armOnly.mediaType = std::string(media::kOciIndex);
  armOnly.manifests = {arm.descriptor(&pr)};
  std::string armBody = imageIndexJson(armOnly);
  ASSERT_TRUE(l.putBlob(armBody).isOk());
  ASSERT_TRUE(l.tag({std::string(media::kOciIndex),
                     Digest::of(armBody),
                     static_cast<std::int64_t>(armBody.size()),
                     {},
                     {},
                     {}},
                    "armonly")
                  .isOk());
  skopeoCopy(layout, "armonly", host() + "/scx/multi:armonly", true);
  auto none = s->pull(req(host() + "/scx/multi:armonly"));
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find(
                "no image for platform linux/amd64 in the index (it has: linux/arm64/v8)"),
            std::string::npos)
      << none.status().toString();
  expectNothingOutside(/*noRoots=*/false);
}

TEST_F(PlainRegistry, CosignSignaturesVerifyAndForgeriesFail) {
  std::string cos = cosign();
  ASSERT_FALSE(cos.empty());
  auto signedImg = scheduler("signed");
  auto otherImg = scheduler("other");
  writeLayout(caseDir_ + "/a", signedImg, "v1");
  writeLayout(caseDir_ + "/b", otherImg, "v1");
  skopeoCopy(caseDir_ + "/a", "v1", host() + "/scx/signed:v1");
  skopeoCopy(caseDir_ + "/b", "v1", host() + "/scx/signed:other");
  for (const char* k : {"k1", "k2"}) {
    auto g = run("cd " + q(caseDir_) + " && mkdir -p " + k + " && cd " + k +
                 " && COSIGN_PASSWORD= " + q(cos) + " generate-key-pair");
    ASSERT_EQ(g.rc, 0) << g.out;
  }
  auto sign = run("cd " + q(caseDir_) + " && COSIGN_PASSWORD= " + q(cos) +
                  " sign --key k1/cosign.key --allow-http-registry --tlog-upload=false --yes " +
                  host() + "/scx/signed@" + signedImg.digest.toString());
  ASSERT_EQ(sign.rc, 0) << sign.out;
  std::string k1 = readFile(caseDir_ + "/k1/cosign.pub"),
              k2 = readFile(caseDir_ + "/k2/cosign.pub");

  auto s = store();
  auto good = req(host() + "/scx/signed:v1", PullPolicy::kAlways);
  good.verifyKeyPem = k1;
  auto r = s->pull(good);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->signatureVerified);

  auto wrongKey = req(host() + "/scx/signed:v1", PullPolicy::kAlways);
  wrongKey.verifyKeyPem = k2;
  auto w = s->pull(wrongKey);
  ASSERT_FALSE(w.isOk());
  EXPECT_EQ(w.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(w.status().message().find("does not verify with the given key"), std::string::npos)
      << w.status().toString();

  auto unsignedReq = req(host() + "/scx/signed:other", PullPolicy::kAlways);
  unsignedReq.verifyKeyPem = k1;
  auto u = s->pull(unsignedReq);
  ASSERT_FALSE(u.isOk());
  EXPECT_NE(u.status().message().find("the image is not signed"), std::string::npos)
      << u.status().toString();

  // Tampered: the signed image's signature replayed onto the other image's signature tag.
  auto replay = run("skopeo copy --quiet --preserve-digests" + skopeoSrc() + skopeoDest() +
                    " docker://" + host() + "/scx/signed:" + cosignSignatureTag(signedImg.digest) +
                    " docker://" + host() + "/scx/signed:" + cosignSignatureTag(otherImg.digest));
  ASSERT_EQ(replay.rc, 0) << replay.out;
  auto t = s->pull(unsignedReq);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(t.status().message().find("signature is for " + signedImg.digest.toString()),
            std::string::npos)
      << t.status().toString();
  // And cosign itself agrees on what verifies.
  auto cv = run(
      "cd " + q(caseDir_) + " && " + q(cos) + " verify --key k1/cosign.pub --allow-http-registry " +
      "--insecure-ignore-tlog=true " + host() + "/scx/signed@" + signedImg.digest.toString());
  EXPECT_EQ(cv.rc, 0) << cv.out;

  // Tampered: one character of the signature annotation changed, pushed over the real one.
  std::string sigTag = cosignSignatureTag(signedImg.digest);
  auto raw = run("skopeo inspect --raw --tls-verify=false docker://" + host() +
                 "/scx/signed:" + sigTag + " 2>/dev/null");
  ASSERT_EQ(raw.rc, 0) << raw.out;
  auto sig = nlohmann::json::parse(raw.out);
  std::string& b64 = sig["layers"][0]["annotations"][std::string(kCosignSignatureAnnotation)]
                         .get_ref<std::string&>();
  b64[b64.size() / 2] = b64[b64.size() / 2] == 'A' ? 'B' : 'A';
  RegistryClient client({[](const net::TlsConfig& tc) { return net::makeCpprestTransport(tc); },
                         clock_, random_, log_, nullptr, nullptr, nullptr},
                        {});
  ASSERT_TRUE(client
                  .pushManifest(*parseReference(host() + "/scx/signed:v1"), sigTag,
                                std::string(media::kOciManifest), sig.dump(), Keychain())
                  .isOk());
  auto tampered = s->pull(good);
  ASSERT_FALSE(tampered.isOk());
  EXPECT_EQ(tampered.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(tampered.status().message().find("does not verify"), std::string::npos)
      << tampered.status().toString();
  auto cosignToo =
      run("cd " + q(caseDir_) + " && " + q(cos) +
          " verify --key k1/cosign.pub --allow-http-registry --insecure-ignore-tlog=true " +
          host() + "/scx/signed@" + signedImg.digest.toString());
  EXPECT_NE(cosignToo.rc, 0) << "cosign accepted the tampered signature too";
  expectNothingOutside(/*noRoots=*/false);
}

struct Hostile {
  std::string name;
  std::vector<TarEntry> entries;
  StatusCode code;
  std::string message;
};

class PlainRegistryHostile : public PlainRegistry, public ::testing::WithParamInterface<Hostile> {};

TEST_P(PlainRegistryHostile, RefusedWithNothingWrittenOutside) {
  const auto& h = GetParam();
  ImageSpec s;
  s.layers = {buildTar({file("usr/bin/scx_test", "x", 0755)}), buildTar(h.entries)};
  s.labels = schedulerLabels();
  rawPush("hostile/" + h.name, "v1", buildImage(s));
  auto st = store("cache", [](ImageStoreOptions& o) { o.limits.maxBytes = 64 << 20; });
  auto r = st->pull(req(host() + "/hostile/" + h.name + ":v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), h.code) << r.status().toString();
  EXPECT_NE(r.status().message().find(h.message), std::string::npos) << r.status().toString();
  expectNothingOutside();
}

TarEntry bomb() {
  TarEntry b = file("usr/bin/pwned-bomb", "");
  b.zeros = 256LL << 20;  // 256 MiB of zeros, a few hundred KiB gzipped
  return b;
}

INSTANTIATE_TEST_SUITE_P(
    Layers, PlainRegistryHostile,
    ::testing::Values(
        Hostile{"traversal",
                {file("../../../../../../pwned-traversal", "x")},
                StatusCode::kPermissionDenied,
                "contains \"..\""},
        Hostile{"absolute",
                {file("/tmp/pwned-absolute", "x")},
                StatusCode::kPermissionDenied,
                "is absolute"},
        Hostile{"symlink",
                {symlink("up", "../../../../../../.."), file("up/tmp/pwned-symlink", "x")},
                StatusCode::kPermissionDenied,
                "leaves the image root"},
        Hostile{"hardlink",
                {hardlink("pwned-hardlink", "../../../../../../etc/passwd")},
                StatusCode::kPermissionDenied,
                "hard link target"},
        Hostile{"device",
                {{TarEntry::kCharDev, "dev/pwned-mem", "", "", 0600, 0}},
                StatusCode::kPermissionDenied,
                "entry \"dev/pwned-mem\": device nodes are not allowed"},
        Hostile{"fifo",
                {{TarEntry::kFifo, "pwned-fifo", "", "", 0600, 0}},
                StatusCode::kPermissionDenied,
                "fifos are not allowed"},
        Hostile{"bomb", {bomb()}, StatusCode::kResourceExhausted, "entry \"usr/bin/pwned-bomb\""}),
    [](const ::testing::TestParamInfo<Hostile>& p) { return p.param.name; });

TEST_F(PlainRegistry, DigestMismatchFromTheRegistryIsCaught) {
  auto img = scheduler("genuine");
  rawPush("hostile/mismatch", "v1", img);
  ImageManifest m = *parseImageManifest(img.manifest, media::kOciManifest);
  // Hand-craft the blob in the registry's storage: same size, different bytes.
  std::string path = blobDataPath(m.layers[0].digest);
  std::string data = readFile(path);
  ASSERT_EQ(static_cast<std::int64_t>(data.size()), m.layers[0].size);
  data[data.size() / 2] ^= 0x40;
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << data; }
  auto s = store();
  auto r = s->pull(req(host() + "/hostile/mismatch:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos)
      << r.status().toString();
  EXPECT_FALSE(s->contentStore().hasBlob(m.layers[0].digest));
  expectNothingOutside();
}

TEST_F(PlainRegistry, MissingBlobIsAClearError) {
  auto img = scheduler("incomplete");
  rawPush("hostile/missing", "v1", img);
  ImageManifest m = *parseImageManifest(img.manifest, media::kOciManifest);
  std::string dataDir = blobDataPath(m.layers[1].digest);
  dataDir = dataDir.substr(0, dataDir.rfind('/'));
  ASSERT_EQ(run("rm -rf " + q(dataDir)).rc, 0);
  auto r = store()->pull(req(host() + "/hostile/missing:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find(m.layers[1].digest.toString()), std::string::npos)
      << r.status().toString();
  EXPECT_NE(r.status().message().find("hostile/missing:v1"), std::string::npos)
      << r.status().toString();
  expectNothingOutside();
}

TEST_F(PlainRegistry, OversizedManifestAndWrongMediaTypes) {
  ImageSpec big;
  big.layers = {buildTar({file("usr/bin/scx_test", "x", 0755)})};
  big.labels = schedulerLabels();
  big.annotations["padding"] = std::string(100 << 10, 'p');
  rawPush("hostile/big", "v1", buildImage(big));
  auto s = store("cache", [](ImageStoreOptions& o) { o.registry.maxManifestBytes = 64 << 10; });
  auto r = s->pull(req(host() + "/hostile/big:v1"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("65536-byte limit"), std::string::npos)
      << r.status().toString();

  ImageSpec wrong;
  wrong.layers = {buildTar({file("usr/bin/scx_test", "x", 0755)})};
  wrong.layerMediaTypes = {"application/x-shellscript"};
  wrong.labels = schedulerLabels();
  rawPush("hostile/mediatype", "v1", buildImage(wrong));
  auto w = s->pull(req(host() + "/hostile/mediatype:v1"));
  ASSERT_FALSE(w.isOk());
  EXPECT_NE(w.status().message().find("wrong media type"), std::string::npos)
      << w.status().toString();
  expectNothingOutside();
}

TEST_F(PlainRegistry, SchedkitPushesSkopeoReads) { pushReadBackPull("scx/pushed"); }

// Last in the suite: stops the registry and starts it again.
TEST_F(PlainRegistry, ZzPinnedCachedImageWorksWithTheRegistryDown) {
  auto img = scheduler("pinned");
  writeLayout(caseDir_ + "/layout", img, "v1");
  skopeoCopy(caseDir_ + "/layout", "v1", host() + "/scx/pinned:v1");
  std::string pinned = host() + "/scx/pinned@" + img.digest.toString();
  auto s = store();
  ASSERT_TRUE(s->pull(req(pinned, PullPolicy::kAlways)).isOk());
  std::string hack = std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/";
  ASSERT_EQ(run(q(hack + "registry-down.sh") + " --dir " + q(env_["REGISTRY_DIR"])).rc, 0);
  for (auto p : {PullPolicy::kAlways, PullPolicy::kIfNotPresent, PullPolicy::kNever}) {
    auto r = s->pull(req(pinned, p));
    ASSERT_TRUE(r.isOk()) << toString(p) << ": " << r.status().toString();
    EXPECT_TRUE(r->fromCache);
  }
  auto tag = s->pull(req(host() + "/scx/pinned:v1", PullPolicy::kAlways));
  EXPECT_EQ(tag.status().code(), StatusCode::kUnavailable) << tag.status().toString();
  auto up = run(q(hack + "registry-up.sh") + " --plain --dir " + q(env_["REGISTRY_DIR"]));
  ASSERT_EQ(up.rc, 0) << up.out;
}

// --- TLS with the test CA ------------------------------------------------------------------------

class TlsRegistry : public Registry {};

TEST_F(TlsRegistry, SchedkitPushesSkopeoReads) { pushReadBackPull("scx/pushed"); }

TEST_F(TlsRegistry, PullsWithTheTestCaAndRefusesWithoutIt) {
  auto img = scheduler("over tls");
  writeLayout(caseDir_ + "/layout", img, "v1");
  skopeoCopy(caseDir_ + "/layout", "v1", host() + "/scx/tls:v1");
  auto r = store()->pull(req(host() + "/scx/tls:v1"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(readFile(r->artifact.hostPath), "over tls");
  auto noCa = store("nocache", [](ImageStoreOptions& o) { o.registry.hosts.clear(); });
  auto f = noCa->pull(req(host() + "/scx/tls:v1"));
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), StatusCode::kUnavailable) << f.status().toString();
  EXPECT_NE(f.status().message().find("unreachable"), std::string::npos) << f.status().toString();
}

// --- htpasswd (Basic) and token auth -------------------------------------------------------------

class AuthRegistry : public Registry {
 protected:
  void pullsWithCredentialsOnly(const std::string& repo) {
    auto img = scheduler("auth " + repo);
    writeLayout(caseDir_ + "/layout", img, "v1");
    skopeoCopy(caseDir_ + "/layout", "v1", host() + "/" + repo + ":v1");
    auto ok = store()->pull(req(host() + "/" + repo + ":v1"));
    ASSERT_TRUE(ok.isOk()) << ok.status().toString();
    EXPECT_EQ(readFile(ok->artifact.hostPath), "auth " + repo);

    auto anon = req(host() + "/" + repo + ":v1");
    anon.credentials = Keychain();
    auto a = store("anon")->pull(anon);
    ASSERT_FALSE(a.isOk());
    EXPECT_EQ(a.status().code(), StatusCode::kPermissionDenied) << a.status().toString();

    auto bad = req(host() + "/" + repo + ":v1");
    bad.credentials = Keychain();
    bad.credentials.add(host(), {env_["REGISTRY_USER"], "not-the-password", "", ""});
    auto b = store("bad")->pull(bad);
    ASSERT_FALSE(b.isOk());
    EXPECT_EQ(b.status().code(), StatusCode::kPermissionDenied) << b.status().toString();
    lastBadMessage_ = b.status().message();
  }
  std::string lastBadMessage_;
};

class HtpasswdRegistry : public AuthRegistry {};
TEST_F(HtpasswdRegistry, BasicAuthFromADockerConfig) { pullsWithCredentialsOnly("scx/basic"); }
TEST_F(HtpasswdRegistry, SchedkitPushesSkopeoReads) { pushReadBackPull("scx/pushed"); }

class TokenRegistry : public AuthRegistry {};
TEST_F(TokenRegistry, BearerTokensFromTheRealm) {
  pullsWithCredentialsOnly("scx/token");
  EXPECT_NE(lastBadMessage_.find("the token server " + env_["TOKEN_URL"] + " answered 401"),
            std::string::npos)
      << lastBadMessage_;
}

TEST_F(TokenRegistry, SchedkitPushesSkopeoReads) { pushReadBackPull("scx/pushed"); }

TEST_F(TokenRegistry, KubernetesPullSecretPayload) {
  auto img = scheduler("from a secret");
  writeLayout(caseDir_ + "/layout", img, "v1");
  skopeoCopy(caseDir_ + "/layout", "v1", host() + "/scx/secret:v1");
  auto r = req(host() + "/scx/secret:v1");
  r.credentials = Keychain();
  ASSERT_TRUE(r.credentials
                  .addPullSecretData(
                      {{".dockerconfigjson", base64Encode(readFile(env_["REGISTRY_AUTHFILE"]))}})
                  .isOk());
  auto got = store()->pull(r);
  ASSERT_TRUE(got.isOk()) << got.status().toString();
}

}  // namespace
}  // namespace schedkit::oci
