#include "schedkit/oci/registry.h"

#include <gtest/gtest.h>

#include "fakes/fake_registry.h"
#include "fakes/fixed_random.h"
#include "schedkit/oci/media_types.h"

namespace schedkit::oci {
namespace {

using testing::FakeRegistry;

struct StringSink final : BlobSink {
  std::string data;
  int resets = 0;
  Status write(std::string_view c) override {
    data.append(c);
    return Status::ok();
  }
  Status reset() override {
    ++resets;
    data.clear();
    return Status::ok();
  }
};

class RegistryClientTest : public ::testing::Test {
 protected:
  RegistryClientTest() : log_(clock_, [this](std::string_view l) { logs_.emplace_back(l); }) {}

  RegistryClient& client() {
    if (!client_) {
      RegistryClientDeps deps{reg_.factory(),
                              clock_,
                              random_,
                              log_,
                              [this](Duration d) {
                                sleeps_.push_back(d);
                                return true;
                              },
                              nullptr,
                              nullptr};
      client_ = std::make_unique<RegistryClient>(std::move(deps), opts_);
    }
    return *client_;
  }

  // A one-layer image: returns the manifest digest.
  std::string pushImage(const std::string& repo, const std::string& tag) {
    layer_ = std::string(10000, 'L');
    std::string cfg = R"({"architecture":"amd64","os":"linux"})";
    reg_.putBlob(repo, layer_);
    reg_.putBlob(repo, cfg);
    ImageManifest m;
    m.mediaType = std::string(media::kOciManifest);
    m.config = {std::string(media::kOciConfig),
                Digest::of(cfg),
                static_cast<std::int64_t>(cfg.size()),
                {},
                {},
                {}};
    m.layers.push_back({std::string(media::kOciLayerGzip),
                        Digest::of(layer_),
                        static_cast<std::int64_t>(layer_.size()),
                        {},
                        {},
                        {}});
    manifest_ = imageManifestJson(m);
    layerDesc_ = m.layers[0];
    return reg_.putManifest(repo, tag, m.mediaType, manifest_);
  }

  Reference ref(const std::string& s) { return *parseReference(s); }

  SimClock clock_;
  FixedRandom random_{1ull << 62};
  std::vector<std::string> logs_;
  Logger log_;
  FakeRegistry reg_;
  RegistryClientOptions opts_;
  std::vector<Duration> sleeps_;
  std::unique_ptr<RegistryClient> client_;
  std::string layer_, manifest_;
  Descriptor layerDesc_;
  Keychain none_;
};

TEST_F(RegistryClientTest, AnonymousManifestByTagAndDigest) {
  std::string d = pushImage("team/img", "v1");
  auto m = client().getManifest(ref("reg.test/team/img:v1"), "v1", none_);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->digest.toString(), d);
  EXPECT_EQ(m->mediaType, media::kOciManifest);
  auto byDigest = client().getManifest(ref("reg.test/team/img:v1"), d, none_);
  ASSERT_TRUE(byDigest.isOk());
  auto reqs = reg_.requests();
  EXPECT_EQ(reqs[0].url, "https://reg.test/v2/");
  EXPECT_NE(reqs[1].headers.get("accept")->find("application/vnd.oci.image.index.v1+json"),
            std::string::npos);
  EXPECT_EQ(reg_.count("/v2/"), 3);  // one ping per host, not per request
}

TEST_F(RegistryClientTest, ManifestDigestMismatchIsDataLoss) {
  pushImage("team/img", "v1");
  std::string fake = Digest::of("something else").toString();
  reg_.putManifest("team/img", fake, std::string(media::kOciManifest), manifest_);
  auto m = client().getManifest(ref("reg.test/team/img"), fake, none_);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(m.status().message().find("digest mismatch"), std::string::npos);
}

TEST_F(RegistryClientTest, OversizedManifestRefused) {
  opts_.maxManifestBytes = 1000;
  reg_.putManifest("team/img", "big", std::string(media::kOciManifest),
                   std::string(5000, ' ') + "{}");
  auto m = client().getManifest(ref("reg.test/team/img"), "big", none_);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(m.status().message().find("1000-byte limit"), std::string::npos);
}

TEST_F(RegistryClientTest, MissingManifestAndBlobAreNotFound) {
  pushImage("team/img", "v1");
  auto m = client().getManifest(ref("reg.test/team/img"), "v9", none_);
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("MANIFEST_UNKNOWN"), std::string::npos);
  reg_.deleteBlob("team/img", layerDesc_.digest.toString());
  StringSink sink;
  auto st = client().getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("missing blob"), std::string::npos);
}

TEST_F(RegistryClientTest, BlobStreamsAndVerifies) {
  pushImage("team/img", "v1");
  StringSink sink;
  std::vector<std::int64_t> progress;
  ASSERT_TRUE(client()
                  .getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink,
                           [&](std::int64_t done, std::int64_t) { progress.push_back(done); })
                  .isOk());
  EXPECT_EQ(sink.data, layer_);
  EXPECT_EQ(progress.size(), 3u);  // 4 KiB chunks of a 10000-byte blob
  EXPECT_EQ(progress.back(), 10000);
}

TEST_F(RegistryClientTest, CorruptTruncatedOrOversizedBlobsAreDataLoss) {
  pushImage("team/img", "v1");
  reg_.corruptBlobs.insert(layerDesc_.digest.toString());
  StringSink sink;
  auto st = client().getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("digest mismatch"), std::string::npos);
  reg_.corruptBlobs.clear();
  reg_.truncatedBlobs.insert(layerDesc_.digest.toString());
  st = client().getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("9999 bytes"), std::string::npos) << st.message();
  reg_.truncatedBlobs.clear();
  Descriptor small = layerDesc_;
  small.size = 100;
  st = client().getBlob(ref("reg.test/team/img"), small, none_, sink);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("larger than"), std::string::npos);
}

TEST_F(RegistryClientTest, BasicAuth) {
  reg_.auth = FakeRegistry::Auth::kBasic;
  pushImage("team/img", "v1");
  auto denied = client().getManifest(ref("reg.test/team/img"), "v1", none_);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  Keychain keys;
  keys.add("reg.test", {"alice", "secret", "", ""});
  auto ok = client().getManifest(ref("reg.test/team/img"), "v1", keys);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(reg_.requests().back().headers.get("authorization"),
            "Basic " + base64Encode("alice:secret"));
}

TEST_F(RegistryClientTest, BearerTokenFlowCachesPerScopeAndRefreshesOnExpiry) {
  reg_.auth = FakeRegistry::Auth::kBearer;
  pushImage("team/img", "v1");
  pushImage("team/other", "v1");
  Keychain keys;
  keys.add("https://reg.test/v2/", {"alice", "secret", "", ""});
  auto r = ref("reg.test/team/img");
  ASSERT_TRUE(client().getManifest(r, "v1", keys).isOk());
  StringSink sink;
  ASSERT_TRUE(client().getBlob(r, layerDesc_, keys, sink).isOk());
  EXPECT_EQ(reg_.tokenRequests(), 1);
  auto tokenReq = reg_.requests()[1];
  EXPECT_NE(tokenReq.url.find("scope=repository%3Ateam%2Fimg%3Apull"), std::string::npos)
      << tokenReq.url;
  EXPECT_NE(tokenReq.url.find("service=fake-registry"), std::string::npos);
  EXPECT_EQ(tokenReq.headers.get("authorization"), "Basic " + base64Encode("alice:secret"));
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/other"), "v1", keys).isOk());
  EXPECT_EQ(reg_.tokenRequests(), 2);  // another scope
  clock_.advance(std::chrono::seconds(301));
  ASSERT_TRUE(client().getManifest(r, "v1", keys).isOk());
  EXPECT_EQ(reg_.tokenRequests(), 3);  // expired
}

TEST_F(RegistryClientTest, BearerWrongPasswordNamesTheTokenServer) {
  reg_.auth = FakeRegistry::Auth::kBearer;
  pushImage("team/img", "v1");
  Keychain keys;
  keys.add("reg.test", {"alice", "wrong", "", ""});
  auto m = client().getManifest(ref("reg.test/team/img"), "v1", keys);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(m.status().message().find("token server https://auth.test/token answered 401"),
            std::string::npos)
      << m.status().message();
}

TEST_F(RegistryClientTest, BearerAnonymousAndIdentityToken) {
  reg_.auth = FakeRegistry::Auth::kBearer;
  reg_.anonymousPull = true;
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  Keychain keys;
  keys.add("reg.test", {"", "", "refresh-alice", ""});
  reg_.anonymousPull = false;
  auto m = client().getManifest(ref("reg.test/team/img"), "v1", keys);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  bool sawPost = false;
  for (const auto& s : reg_.requests()) sawPost |= s.method == "POST";
  EXPECT_TRUE(sawPost);
}

TEST_F(RegistryClientTest, RevokedTokenIsRefreshedOnce) {
  reg_.auth = FakeRegistry::Auth::kBearer;
  reg_.anonymousPull = true;
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  reg_.revokeTokens();
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  EXPECT_EQ(reg_.tokenRequests(), 2);
}

TEST_F(RegistryClientTest, RetriesServerErrorsHonouringRetryAfter) {
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());  // ping done
  reg_.faults.push_back({503, "7", false});
  reg_.faults.push_back({429, "", false});
  reg_.faults.push_back({0, "", true});
  auto m = client().getManifest(ref("reg.test/team/img"), "v1", none_);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  ASSERT_EQ(sleeps_.size(), 3u);
  EXPECT_EQ(sleeps_[0], std::chrono::seconds(7));
  // FixedRandom(2^62) → unit() 0.25 → jitter factor 1 - 0.5*0.25... within [base/2, base].
  EXPECT_GT(sleeps_[1], Duration::zero());
  EXPECT_LE(sleeps_[1], std::chrono::milliseconds(500));
}

TEST_F(RegistryClientTest, GivesUpAfterMaxAttempts) {
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  for (int i = 0; i < 10; ++i) reg_.faults.push_back({502, "", false});
  auto m = client().getManifest(ref("reg.test/team/img"), "v1", none_);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(m.status().message().find("HTTP 502"), std::string::npos);
  EXPECT_EQ(sleeps_.size(), 4u);  // 5 attempts
}

TEST_F(RegistryClientTest, RetryAfterIsCapped) {
  opts_.maxRetryAfter = std::chrono::seconds(30);
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  reg_.faults.push_back({503, "86400", false});
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  EXPECT_EQ(sleeps_.at(0), std::chrono::seconds(30));
}

TEST_F(RegistryClientTest, BlobRedirectDropsAuthorizationCrossHost) {
  reg_.auth = FakeRegistry::Auth::kBasic;
  reg_.redirectBlobs = true;
  pushImage("team/img", "v1");
  Keychain keys;
  keys.add("reg.test", {"alice", "secret", "", ""});
  StringSink sink;
  ASSERT_TRUE(client().getBlob(ref("reg.test/team/img"), layerDesc_, keys, sink).isOk());
  EXPECT_EQ(sink.data, layer_);
  auto reqs = reg_.requests();
  auto last = reqs.back();
  EXPECT_NE(last.url.find("https://cdn.test/store/"), std::string::npos);
  EXPECT_FALSE(last.headers.get("authorization").has_value());
  EXPECT_TRUE(reqs[reqs.size() - 2].headers.get("authorization").has_value());
}

TEST_F(RegistryClientTest, RedirectsNeverDowngradeOrLoop) {
  reg_.redirectBlobs = true;
  pushImage("team/img", "v1");
  StringSink sink;
  reg_.redirectLocation = "http://cdn.test/store/x";
  auto down = client().getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink);
  EXPECT_EQ(down.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(down.message().find("refusing a redirect from HTTPS to plain HTTP"), std::string::npos);
  reg_.redirectLocation = "/v2/team/img/blobs/" + layerDesc_.digest.toString();  // to itself
  auto loop = client().getBlob(ref("reg.test/team/img"), layerDesc_, none_, sink);
  EXPECT_NE(loop.message().find("more than 5 redirects"), std::string::npos) << loop.message();
}

TEST_F(RegistryClientTest, RetryAfterAsAnHttpDate) {
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  // SimClock's wall clock starts at 1'750'000'000 s = Sun, 15 Jun 2025 15:06:40 GMT.
  reg_.faults.push_back({503, "Sun, 15 Jun 2025 15:06:52 GMT", false});
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(sleeps_[0], std::chrono::seconds(12));
}

TEST_F(RegistryClientTest, PlainHttpOnlyForLoopbackOrWhenAllowed) {
  reg_.host = "127.0.0.1:5000";
  reg_.tls = false;
  pushImage("img", "v1");
  ASSERT_TRUE(client().getManifest(ref("127.0.0.1:5000/img"), "v1", none_).isOk());
  EXPECT_EQ(reg_.requests().back().url.rfind("http://127.0.0.1:5000/", 0), 0u);

  FakeRegistry remote;
  remote.host = "plain.example:5000";
  remote.tls = false;
  remote.putManifest("img", "v1", std::string(media::kOciManifest), manifest_);
  RegistryClientDeps deps{remote.factory(), clock_, random_, log_, [](Duration) { return true; },
                          nullptr,          nullptr};
  RegistryClient strict(deps, opts_);
  auto refused = strict.getManifest(ref("plain.example:5000/img"), "v1", none_);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("TLS handshake"), std::string::npos);
  auto o = opts_;
  o.hosts["plain.example:5000"].plainHttp = true;
  RegistryClient allowed(deps, o);
  EXPECT_TRUE(allowed.getManifest(ref("plain.example:5000/img"), "v1", none_).isOk());
}

TEST_F(RegistryClientTest, TlsRegistryOnLoopbackIsNotDowngraded) {
  reg_.host = "127.0.0.1:5000";
  reg_.tls = true;
  pushImage("img", "v1");
  ASSERT_TRUE(client().getManifest(ref("127.0.0.1:5000/img"), "v1", none_).isOk());
  for (const auto& r : reg_.requests()) EXPECT_EQ(r.url.rfind("https://", 0), 0u) << r.url;
}

TEST_F(RegistryClientTest, CustomCaIsHandedToTheTransport) {
  opts_.hosts["reg.test"].tls.caFile = "/etc/schedkit/ca.crt";
  pushImage("team/img", "v1");
  ASSERT_TRUE(client().getManifest(ref("reg.test/team/img"), "v1", none_).isOk());
  auto tls = reg_.tlsConfigs();
  ASSERT_FALSE(tls.empty());
  EXPECT_EQ(tls[0].caFile, "/etc/schedkit/ca.crt");
}

// HEAD answers carry the blob's Content-Length: a blob above the buffered-body limit (1 MiB) that
// is already in the registry is found, not refused as "larger than the limit".
TEST_F(RegistryClientTest, PushOfALargeBlobThatIsThereAlreadyIsAHeadOnly) {
  auto r = ref("reg.test/team/big:v1");
  std::string layer(3 << 20, 'y');
  Descriptor ld{std::string(media::kOciLayerGzip),
                Digest::of(layer),
                static_cast<std::int64_t>(layer.size()),
                {},
                {},
                {}};
  ASSERT_TRUE(client().pushBlob(r, ld, layer, none_).isOk());
  auto has = client().hasBlob(r, ld.digest, none_);
  ASSERT_TRUE(has.isOk()) << has.status().toString();
  EXPECT_TRUE(*has);
  int before = reg_.count("/blobs/uploads/");
  Status again = client().pushBlob(r, ld, layer, none_);
  EXPECT_TRUE(again.isOk()) << again.toString();
  EXPECT_EQ(reg_.count("/blobs/uploads/"), before);
}

TEST_F(RegistryClientTest, PushesBlobsAndManifestsWithPushScopedTokens) {
  reg_.auth = FakeRegistry::Auth::kBearer;
  Keychain keys;
  keys.add("reg.test", {"alice", "secret", "", ""});
  auto r = ref("reg.test/team/pushed:v1");
  std::string cfg = R"({"architecture":"amd64","os":"linux"})", layer = std::string(5000, 'x');
  Descriptor cd{std::string(media::kOciConfig),
                Digest::of(cfg),
                static_cast<std::int64_t>(cfg.size()),
                {},
                {},
                {}};
  Descriptor ld{std::string(media::kOciLayerGzip),
                Digest::of(layer),
                static_cast<std::int64_t>(layer.size()),
                {},
                {},
                {}};
  EXPECT_FALSE(*client().hasBlob(r, ld.digest, keys));
  ASSERT_TRUE(client().pushBlob(r, cd, cfg, keys).isOk());
  ASSERT_TRUE(client().pushBlob(r, ld, layer, keys).isOk());
  int before = reg_.count("/blobs/uploads/");
  ASSERT_TRUE(client().pushBlob(r, ld, layer, keys).isOk());  // already there: HEAD only
  EXPECT_EQ(reg_.count("/blobs/uploads/"), before);
  ImageManifest m;
  m.mediaType = std::string(media::kOciManifest);
  m.config = cd;
  m.layers = {ld};
  std::string body = imageManifestJson(m);
  auto d = client().pushManifest(r, "v1", m.mediaType, body, keys);
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(*d, Digest::of(body));
  auto back = client().getManifest(r, "v1", keys);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->digest, *d);
  StringSink sink;
  ASSERT_TRUE(client().getBlob(r, ld, keys, sink).isOk());
  EXPECT_EQ(sink.data, layer);
  bool pushScope = false;
  for (const auto& s : reg_.requests()) {
    pushScope |= s.url.find("scope=repository%3Ateam%2Fpushed%3Apull%2Cpush") != std::string::npos;
  }
  EXPECT_TRUE(pushScope);
  EXPECT_EQ(client().pushBlob(r, ld, "not the layer", keys).code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryClientTest, UnreachableRegistry) {
  reg_.down = true;
  auto m = client().getManifest(ref("reg.test/team/img"), "v1", none_);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(m.status().message().find("unreachable"), std::string::npos);
}

}  // namespace
}  // namespace schedkit::oci
