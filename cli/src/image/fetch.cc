#include "image/fetch.h"

#include "schedkit/oci/media_types.h"

namespace schedkit::cli {

namespace {

Result<oci::PullRequest> request(const FetchOptions& o) {
  oci::PullRequest req;
  req.image = o.image;
  req.policy = o.policy;
  req.credentials = o.credentials;
  req.verifyKeyPem = o.verifyKeyPem;
  if (!o.platform.empty()) {
    auto p = oci::parsePlatform(o.platform);
    if (!p.isOk()) return p.status().withContext("--platform");
    req.platform = *p;
  }
  return req;
}

}  // namespace

Result<InspectResult> inspectImage(oci::OciImageStore& store, const FetchOptions& o) {
  SK_ASSIGN_OR_RETURN(oci::PullRequest req, request(o));
  InspectResult r;
  auto info = store.inspect(req);
  if (!info.isOk() && req.verifyKeyPem && info.status().code() == StatusCode::kPermissionDenied) {
    // Say why the signature failed, and still show what the image is.
    r.signature = "failed";
    r.signatureError = info.status().message();
    req.verifyKeyPem.reset();
    info = store.inspect(req);
  } else if (info.isOk() && req.verifyKeyPem) {
    r.signature = info->signatureVerified ? "verified" : "failed";
  }
  if (!info.isOk()) return info.status();
  r.info = std::move(*info);

  // inspect() cached the documents it read: the top manifest (or index), the platform manifest
  // and the config.
  oci::ContentStore& cs = store.contentStore();
  SK_ASSIGN_OR_RETURN(std::string top, cs.readBlob(r.info.digest, oci::kMaxManifestBytes));
  if (oci::media::isIndex(r.info.mediaType)) {
    SK_ASSIGN_OR_RETURN(oci::ImageIndex idx, oci::parseImageIndex(top, r.info.mediaType));
    for (const auto& d : idx.manifests) {
      r.index.push_back({d.platform.value_or(oci::Platform{}), d.digest, d.mediaType});
    }
  }
  SK_ASSIGN_OR_RETURN(std::string man, cs.readBlob(r.info.manifestDigest, oci::kMaxManifestBytes));
  SK_ASSIGN_OR_RETURN(r.manifestMediaType, oci::manifestMediaType(man, ""));
  SK_ASSIGN_OR_RETURN(oci::ImageManifest m, oci::parseImageManifest(man, r.manifestMediaType));
  r.config = m.config;
  r.annotations = m.annotations;
  if (oci::media::isConfig(m.config.mediaType)) {
    SK_ASSIGN_OR_RETURN(std::string cfg, cs.readBlob(m.config.digest, oci::kMaxConfigBytes));
    SK_ASSIGN_OR_RETURN(oci::ImageConfig c, oci::parseImageConfig(cfg));
    r.labels = c.labels;
  }
  return r;
}

Result<oci::PulledImage> pullImage(oci::OciImageStore& store, const FetchOptions& o,
                                   const std::function<void(const oci::PullProgress&)>& progress) {
  SK_ASSIGN_OR_RETURN(oci::PullRequest req, request(o));
  req.onProgress = progress;
  return store.pull(req);
}

}  // namespace schedkit::cli
