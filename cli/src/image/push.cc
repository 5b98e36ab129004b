#include "image/push.h"

#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/reference.h"

namespace schedkit::cli {

namespace {

struct StringSink final : oci::BlobSink {
  std::string data;
  Status write(std::string_view c) override {
    data.append(c);
    return Status::ok();
  }
  Status reset() override {
    data.clear();
    return Status::ok();
  }
};

class Pusher {
 public:
  Pusher(const oci::OciLayout& l, oci::RegistryClient& c, const oci::Reference& ref,
         const oci::Keychain& k, PushResult& r)
      : l_(l), c_(c), ref_(ref), k_(k), r_(r) {}

  Status blob(const oci::Descriptor& d) {
    auto has = c_.hasBlob(ref_, d.digest, k_);
    if (!has.isOk()) return has.status().withContext("checking blob " + d.digest.toString());
    if (*has) {
      r_.blobsSkipped++;
      return Status::ok();
    }
    // pushBlob takes the whole blob: fine for scheduler images (a few MiB), read verified.
    StringSink sink;
    SK_RETURN_IF_ERROR(l_.blob(d, sink).withContext("reading blob from " + l_.dir()));
    SK_RETURN_IF_ERROR(
        c_.pushBlob(ref_, d, sink.data, k_).withContext("pushing blob " + d.digest.toString()));
    r_.blobsPushed++;
    r_.bytesPushed += d.size;
    return Status::ok();
  }

  // Blobs of one image manifest, then the manifest itself (by digest when tag is empty).
  Result<oci::Digest> image(const oci::FetchedManifest& fm, const std::string& tag) {
    SK_ASSIGN_OR_RETURN(oci::ImageManifest m, oci::parseImageManifest(fm.body, fm.mediaType));
    SK_RETURN_IF_ERROR(blob(m.config));
    for (const auto& layer : m.layers) {
      if (!layer.urls.empty()) continue;  // foreign layers stay where they are
      SK_RETURN_IF_ERROR(blob(layer));
    }
    return manifest(fm, tag);
  }

  Result<oci::Digest> manifest(const oci::FetchedManifest& fm, const std::string& tag) {
    auto d = c_.pushManifest(ref_, tag, fm.mediaType, fm.body, k_);
    if (!d.isOk()) return d.status().withContext("pushing manifest " + fm.digest.toString());
    if (*d != fm.digest) {
      return dataLoss("the registry stored manifest " + fm.digest.toString() + " as " +
                      d->toString());
    }
    return *d;
  }

 private:
  const oci::OciLayout& l_;
  oci::RegistryClient& c_;
  const oci::Reference& ref_;
  const oci::Keychain& k_;
  PushResult& r_;
};

}  // namespace

Result<PushResult> pushLayout(const std::string& source, const std::string& dest,
                              oci::RegistryClient& client, const oci::Keychain& keys) {
  SK_ASSIGN_OR_RETURN(oci::Reference src,
                      oci::parseReference(source.rfind("oci:", 0) == 0 ? source : "oci:" + source));
  if (src.pinned()) return invalidArgument("push takes LAYOUT[:TAG], not a digest");
  SK_ASSIGN_OR_RETURN(oci::Reference ref, oci::parseReference(dest));
  if (ref.isLayout()) return invalidArgument("push sends to a registry, not to " + dest);
  if (ref.pinned()) return invalidArgument("push to a tag, not a digest: " + dest);
  oci::OciLayout l(src.layoutPath);
  SK_ASSIGN_OR_RETURN(oci::Descriptor top, l.resolve(src.tag));
  // No tag in the destination: the source's.
  std::string lastPart = dest.substr(dest.rfind('/') == std::string::npos ? 0 : dest.rfind('/'));
  if (lastPart.find(':') == std::string::npos) {
    auto t = top.annotations.find(std::string(oci::kRefNameAnnotation));
    if (t != top.annotations.end() && !t->second.empty()) ref.tag = t->second;
  }

  PushResult r;
  r.source = src.toString();
  r.reference = ref.toString();
  Pusher p(l, client, ref, keys, r);
  SK_ASSIGN_OR_RETURN(oci::FetchedManifest fm, l.manifest(top));
  if (oci::media::isIndex(fm.mediaType)) {
    SK_ASSIGN_OR_RETURN(oci::ImageIndex idx, oci::parseImageIndex(fm.body, fm.mediaType));
    for (const auto& d : idx.manifests) {
      auto child = l.manifest(d);
      if (!child.isOk()) {
        return child.status().withContext("platform " +
                                          (d.platform ? d.platform->toString() : "?") +
                                          " of the index (copy it with --all)");
      }
      if (oci::media::isIndex(child->mediaType)) {
        return unimplemented("nested indexes are not pushed: " + d.digest.toString());
      }
      SK_ASSIGN_OR_RETURN(oci::Digest cd, p.image(*child, ""));
      r.manifests.push_back(cd);
      if (d.platform) r.platforms.push_back(*d.platform);
    }
    SK_ASSIGN_OR_RETURN(r.digest, p.manifest(fm, ref.tag));
  } else {
    SK_ASSIGN_OR_RETURN(r.digest, p.image(fm, ref.tag));
    if (top.platform) r.platforms.push_back(*top.platform);
  }
  r.mediaType = fm.mediaType;
  r.pinnedReference = ref.withDigest(r.digest).toString();
  return r;
}

}  // namespace schedkit::cli
