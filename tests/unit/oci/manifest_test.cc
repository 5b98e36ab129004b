#include "schedkit/oci/manifest.h"

#include <gtest/gtest.h>

#include "schedkit/oci/media_types.h"

namespace schedkit::oci {
namespace {

std::string desc(const std::string& mt, const std::string& data, const std::string& extra = "") {
  return "{\"mediaType\":\"" + mt + "\",\"digest\":\"" + Digest::of(data).toString() +
         "\",\"size\":" + std::to_string(data.size()) + extra + "}";
}

std::string ociManifest(bool withMediaType = true) {
  return std::string("{\"schemaVersion\":2,") +
         (withMediaType ? "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," : "") +
         "\"config\":" + desc(std::string(media::kOciConfig), "cfg") + ",\"layers\":[" +
         desc(std::string(media::kOciLayerGzip), "l1") + "],\"annotations\":{\"a\":\"b\"}}";
}

TEST(ManifestMediaType, DeclaredServedAndInferred) {
  EXPECT_EQ(*manifestMediaType(ociManifest(), ""), media::kOciManifest);
  EXPECT_EQ(*manifestMediaType(ociManifest(false),
                               "application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            media::kOciManifest);
  EXPECT_EQ(*manifestMediaType(ociManifest(false), "application/octet-stream"),
            media::kOciManifest);
  EXPECT_EQ(*manifestMediaType("{\"schemaVersion\":2,\"manifests\":[]}", ""), media::kOciIndex);
}

TEST(ManifestMediaType, Rejections) {
  auto conflict = manifestMediaType(ociManifest(), std::string(media::kDockerManifest));
  EXPECT_NE(conflict.status().message().find("wrong media type"), std::string::npos);
  auto schema1 = manifestMediaType("{\"schemaVersion\":1,\"fsLayers\":[]}", "");
  EXPECT_NE(schema1.status().message().find("schema 1"), std::string::npos);
  auto weird = manifestMediaType(
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\"}", "");
  EXPECT_NE(weird.status().message().find("unsupported manifest media type"), std::string::npos);
  EXPECT_FALSE(manifestMediaType("[1,2]", "").isOk());
  EXPECT_FALSE(manifestMediaType("{nope", "").isOk());
  EXPECT_FALSE(manifestMediaType("{\"schemaVersion\":\"2\"}", "").isOk());
}

TEST(ParseImageManifest, ReadsDescriptors) {
  auto m = parseImageManifest(ociManifest(), media::kOciManifest);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->config.digest, Digest::of("cfg"));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 2);
  EXPECT_EQ(m->annotations.at("a"), "b");
  // Round trip through the serialiser.
  auto again = parseImageManifest(imageManifestJson(*m), media::kOciManifest);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->layers[0].digest, m->layers[0].digest);
}

TEST(ParseImageManifest, TypeErrorsAreStatusesNotExceptions) {
  for (std::string body : {
           std::string("{\"schemaVersion\":2,\"config\":5,\"layers\":[]}"),
           std::string("{\"schemaVersion\":2,\"config\":{\"mediaType\":1},\"layers\":[]}"),
           "{\"schemaVersion\":2,\"config\":" + desc("x", "c") + ",\"layers\":{}}",
           "{\"schemaVersion\":2,\"config\":" + desc("x", "c") +
               ",\"layers\":[],\"annotations\":{\"a\":1}}",
           std::string("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
                       "zz\",\"size\":1},\"layers\":[]}"),
           "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" +
               Digest::of("").toString() + "\",\"size\":-1},\"layers\":[]}",
       }) {
    auto m = parseImageManifest(body, media::kOciManifest);
    EXPECT_FALSE(m.isOk()) << body;
    if (!m.isOk()) {
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

ImageIndex multiArch() {
  std::string body =
      std::string("{\"schemaVersion\":2,\"mediaType\":\"") + std::string(media::kOciIndex) +
      "\",\"manifests\":[" +
      desc(std::string(media::kOciManifest), "amd",
           ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}") +
      "," +
      desc(std::string(media::kOciManifest), "arm7",
           ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}") +
      "," +
      desc(std::string(media::kOciManifest), "arm64",
           ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}") +
      "," +
      desc(std::string(media::kOciManifest), "att",
           ",\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}") +
      "]}";
  return *parseImageIndex(body, media::kOciIndex);
}

TEST(SelectPlatform, MatchesOsArchVariant) {
  auto idx = multiArch();
  EXPECT_EQ(selectPlatform(idx, {"linux", "amd64", ""})->digest, Digest::of("amd"));
  EXPECT_EQ(selectPlatform(idx, {"linux", "arm64", "v8"})->digest, Digest::of("arm64"));
  EXPECT_EQ(selectPlatform(idx, {"linux", "arm", "v7"})->digest, Digest::of("arm7"));
  auto none = selectPlatform(idx, {"linux", "arm", "v6"});
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("linux/amd64, linux/arm/v7, linux/arm64"),
            std::string::npos)
      << none.status().message();
  auto s390 = selectPlatform(idx, {"linux", "s390x", ""});
  EXPECT_NE(s390.status().message().find("no image for platform linux/s390x"), std::string::npos);
}

TEST(Platform, HostAndParse) {
  auto p = hostPlatform();
  EXPECT_EQ(p.os, "linux");
  EXPECT_FALSE(p.architecture.empty());
  EXPECT_EQ(parsePlatform("linux/arm64/v8")->toString(), "linux/arm64/v8");
  EXPECT_FALSE(parsePlatform("linux").isOk());
}

TEST(ParseImageConfig, LabelsAndDiffIds) {
  std::string body =
      "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"k\":\"v\"},"
      "\"Entrypoint\":[\"/x\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" +
      Digest::of("t").toString() + "\"]}}";
  auto c = parseImageConfig(body);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->labels.at("k"), "v");
  EXPECT_EQ(c->platform.architecture, "amd64");
  EXPECT_EQ(c->diffIds.size(), 1u);
  EXPECT_FALSE(parseImageConfig("{\"config\":{\"Labels\":{\"k\":3}}}").isOk());
}

}  // namespace
}  // namespace schedkit::oci
