#include "schedkit/oci/image_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/signature.h"

namespace schedkit::oci {

Result<PullPolicy> parsePullPolicy(std::string_view s) {
  if (s == "Always") return PullPolicy::kAlways;
  if (s == "IfNotPresent" || s.empty()) return PullPolicy::kIfNotPresent;
  if (s == "Never") return PullPolicy::kNever;
  return invalidArgument("unknown image pull policy \"" + std::string(s) +
                         "\" (Always, IfNotPresent, Never)");
}

std::string_view toString(PullPolicy p) {
  switch (p) {
    case PullPolicy::kAlways:
      return "Always";
    case PullPolicy::kIfNotPresent:
      return "IfNotPresent";
    case PullPolicy::kNever:
      return "Never";
  }
  return "?";
}

// Where manifests and blobs come from: a registry or an OCI layout directory.
class OciImageStore::Source {
 public:
  virtual ~Source() = default;
  virtual Result<FetchedManifest> manifest(const std::string& tagOrDigest) = 0;
  virtual Status blob(const Descriptor& d, BlobSink& sink, const ByteProgress& p) = 0;
  Result<std::string> blobBytes(const Descriptor& d, std::int64_t max) {
    if (d.size > max) {
      return resourceExhausted("blob " + d.digest.toString() + " is " + std::to_string(d.size) +
                               " bytes, over the " + std::to_string(max) + "-byte limit");
    }
    struct Sink final : BlobSink {
      std::string data;
      Status write(std::string_view c) override {
        data.append(c);
        return Status::ok();
      }
      Status reset() override {
        data.clear();
        return Status::ok();
      }
    } sink;
    SK_RETURN_IF_ERROR(blob(d, sink, nullptr));
    return std::move(sink.data);
  }
};

class OciImageStore::RegistrySource final : public Source {
 public:
  RegistrySource(RegistryClient& c, const Reference& r, const Keychain& k) : c_(c), r_(r), k_(k) {}
  Result<FetchedManifest> manifest(const std::string& tagOrDigest) override {
    return c_.getManifest(r_, tagOrDigest, k_);
  }
  Status blob(const Descriptor& d, BlobSink& sink, const ByteProgress& p) override {
    return c_.getBlob(r_, d, k_, sink, p);
  }

 private:
  RegistryClient& c_;
  const Reference& r_;
  const Keychain& k_;
};

class OciImageStore::LayoutSource final : public Source {
 public:
  explicit LayoutSource(std::string dir) : l_(std::move(dir)) {}
  Result<FetchedManifest> manifest(const std::string& tagOrDigest) override {
    if (tagOrDigest.rfind("sha256:", 0) == 0) {
      SK_ASSIGN_OR_RETURN(Digest d, Digest::parse(tagOrDigest));
      struct stat st {};
      if (::stat(l_.blobPath(d).c_str(), &st) != 0) {
        return notFound("manifest " + tagOrDigest + " is not in " + l_.dir());
      }
      return l_.manifest(Descriptor{"", d, static_cast<std::int64_t>(st.st_size), {}, {}, {}});
    }
    SK_ASSIGN_OR_RETURN(Descriptor d, l_.resolve(tagOrDigest));
    return l_.manifest(d);
  }
  Status blob(const Descriptor& d, BlobSink& sink, const ByteProgress& p) override {
    return l_.blob(d, sink, p);
  }

 private:
  OciLayout l_;
};

OciImageStore::OciImageStore(ImageStoreDeps deps, ImageStoreOptions opts)
    : deps_(std::move(deps)),
      opts_(std::move(opts)),
      cancel_(std::make_shared<CancelToken>()),
      netCancel_(std::make_shared<net::CancelToken>()),
      store_(opts_.cacheDir),
      client_(RegistryClientDeps{deps_.transports, deps_.clock, deps_.random, deps_.log,
                                 deps_.sleep, cancel_, netCancel_},
              opts_.registry) {}

Result<std::unique_ptr<OciImageStore>> OciImageStore::create(ImageStoreDeps deps,
                                                             ImageStoreOptions opts) {
  if (opts.cacheDir.empty()) return invalidArgument("image store: no cache directory");
  std::unique_ptr<OciImageStore> s(new OciImageStore(std::move(deps), std::move(opts)));
  SK_RETURN_IF_ERROR(s->store_.init().withContext("image cache " + s->opts_.cacheDir));
  return s;
}

void OciImageStore::cancel() {
  cancel_->cancel();
  netCancel_->cancel();
}

Result<GcStats> OciImageStore::garbageCollect(const GcOptions& opts) {
  auto st = store_.garbageCollect(opts);
  if (st.isOk()) {
    deps_.log.info("image cache garbage-collected",
                   {{"records", st->recordsRemoved},
                    {"blobs", st->blobsRemoved},
                    {"roots", st->rootsRemoved},
                    {"temps", st->tempsRemoved},
                    {"bytes", static_cast<long long>(st->bytesFreed)}});
  }
  return st;
}

namespace {

void report(const PullRequest& req, std::string phase, std::string digest = "",
            std::int64_t done = 0, std::int64_t total = 0) {
  if (req.onProgress) req.onProgress({std::move(phase), std::move(digest), done, total});
}

// Labels of an image config; artifact-style images (empty or custom config) have none.
Result<std::map<std::string, std::string>> configLabels(const ImageManifest& m,
                                                        const std::string& config,
                                                        const Platform& want, bool checkPlatform) {
  if (media::isConfig(m.config.mediaType)) {
    auto c = parseImageConfig(config);
    if (!c.isOk()) return c.status().withContext("config " + m.config.digest.toString());
    if (checkPlatform && !c->platform.architecture.empty() &&
        (c->platform.os != want.os || c->platform.architecture != want.architecture)) {
      Platform got = c->platform;
      return failedPrecondition("the image is for " + got.toString() + ", this node is " +
                                want.toString());
    }
    return c->labels;
  }
  if (m.config.mediaType == media::kOciEmpty || m.annotations.count(std::string(labels::kType))) {
    return std::map<std::string, std::string>{};
  }
  return invalidArgument(
      "config media type \"" + m.config.mediaType +
      "\" is not an image config, and the manifest carries no schedkit annotations");
}

// The config's rootfs.diff_ids, one per layer, checked while unpacking. Configs that list none
// (artifact-style images, some hand-made ones) skip the check; a wrong count is an error.
Result<std::vector<Digest>> layerDiffIds(const ImageManifest& m, const std::string& config) {
  if (!media::isConfig(m.config.mediaType)) return std::vector<Digest>{};
  auto c = parseImageConfig(config);
  if (!c.isOk()) return c.status();
  if (c->diffIds.empty()) return std::vector<Digest>{};
  if (c->diffIds.size() != m.layers.size()) {
    return invalidArgument("the config lists " + std::to_string(c->diffIds.size()) +
                           " diff_ids for " + std::to_string(m.layers.size()) + " layers");
  }
  return c->diffIds;
}

// The signature layers of a cosign signature manifest that verify `image` with `key`.
struct SigCheck {
  Status status;
  std::vector<Digest> blobs;  // signature manifest, then the verified payload
};

}  // namespace

Result<std::string> OciImageStore::ensureRootfs(
    const Digest& manifest, const std::vector<Descriptor>& layers,
    const std::vector<Digest>& diffIds, const PullRequest& req,
    const std::function<Status(const std::string&)>& check) {
  SK_ASSIGN_OR_RETURN(FileLock lock, store_.lockRoot(manifest));
  std::string dest = store_.rootfsPath(manifest);
  if (store_.hasRootfs(manifest)) return dest;
  report(req, "unpacking", manifest.toString());
  SK_ASSIGN_OR_RETURN(auto tmp, store_.makeTempDir("unpack-" + manifest.hex().substr(0, 12)));
  std::string root = tmp.path + "/rootfs";
  auto cleanup = [&](Status st) {
    (void)removeTree(tmp.path);
    return st;
  };
  if (::mkdir(root.c_str(), 0755) != 0) return cleanup(fromErrno(errno, "mkdir " + root));
  std::vector<LayerFile> files;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    files.push_back({store_.blobPath(layers[i].digest), layers[i].digest,
                     "layer " + std::to_string(i) + " (" + layers[i].digest.toString() + ")",
                     i < diffIds.size() ? diffIds[i] : Digest()});
  }
  MonoTime t0 = deps_.clock.now();
  auto stats = unpackLayers(files, root, opts_.limits);
  if (!stats.isOk()) return cleanup(stats.status().withContext("unpacking"));
  if (cancel_->cancelled()) return cleanup(cancelled("pull cancelled"));
  if (Status ro = makeTreeReadOnly(root); !ro.isOk()) return cleanup(ro);
  if (Status c = check(root); !c.isOk()) return cleanup(c);
  if (::rename(root.c_str(), dest.c_str()) != 0)
    return cleanup(fromErrno(errno, "rename " + root + " -> " + dest));
  (void)removeTree(tmp.path);
  deps_.log.info("image unpacked", {{"manifest", manifest.toString()},
                                    {"entries", static_cast<long long>(stats->entries)},
                                    {"bytes", static_cast<long long>(stats->bytes)},
                                    {"took", deps_.clock.now() - t0}});
  return dest;
}

Result<PulledImage> OciImageStore::pull(const PullRequest& req) {
  if (cancel_->cancelled()) return cancelled("image store is shutting down");
  auto ref = parseReference(req.image);
  if (!ref.isOk()) return ref.status();
  SK_ASSIGN_OR_RETURN(FileLock storeLock, store_.lockStore(false));
  MonoTime t0 = deps_.clock.now();
  auto r = pullLocked(req, *ref);
  if (r.isOk()) {
    deps_.log.info("image ready", {{"image", ref->toString()},
                                   {"digest", r->digest.toString()},
                                   {"fromCache", r->fromCache},
                                   {"signed", r->signatureVerified},
                                   {"took", deps_.clock.now() - t0}});
  } else {
    deps_.log.warn("image pull failed", {{"image", ref->toString()}, {"error", r.status()}});
  }
  return r;
}

Result<PulledImage> OciImageStore::pullLocked(const PullRequest& req, const Reference& ref) {
  auto rec = store_.getRecord(ref.toString());
  bool cacheFirst = req.policy != PullPolicy::kAlways || ref.pinned();
  if (rec.isOk() && cacheFirst) {
    bool needNetwork = false;
    auto r = fromRecord(req, ref, *rec, &needNetwork);
    if (r.isOk() || !needNetwork) return r;
    if (req.policy == PullPolicy::kNever) {
      return failedPrecondition("cached image " + ref.toString() + " is incomplete (" +
                                r.status().message() + ") and the pull policy is Never");
    }
    deps_.log.info("cached image incomplete, pulling",
                   {{"image", ref.toString()}, {"why", r.status()}});
  } else if (req.policy == PullPolicy::kNever) {
    return failedPrecondition("image " + ref.toString() +
                              " is not in the cache and the pull policy is Never");
  }
  return fetch(req, ref);
}

namespace {

// Verifies a cosign signature manifest's layers; blob bytes come from `fetchBlob`.
SigCheck checkSignatureManifest(
    const FetchedManifest& sig, const PublicKey& key, const Digest& image,
    const std::function<Result<std::string>(const Descriptor&)>& fetchBlob) {
  SigCheck out;
  auto m = parseImageManifest(sig.body, sig.mediaType);
  if (!m.isOk()) {
    out.status = permissionDenied("signature manifest is unreadable: " + m.status().message());
    return out;
  }
  std::vector<std::string> reasons;
  for (const auto& l : m->layers) {
    auto ann = l.annotations.find(std::string(kCosignSignatureAnnotation));
    if (ann == l.annotations.end()) continue;
    auto payload = fetchBlob(l);
    if (!payload.isOk()) {
      reasons.push_back("payload " + l.digest.toString() + ": " + payload.status().message());
      continue;
    }
    Status st = verifyCosignSignature(*payload, ann->second, key, image);
    if (st.isOk()) {
      out.blobs = {sig.digest, l.digest};
      return out;
    }
    reasons.push_back(st.message());
  }
  std::string why;
  for (const auto& r : reasons) why += (why.empty() ? "" : "; ") + r;
  out.status =
      permissionDenied("no valid signature for " + image.toString() + ": " +
                       (why.empty() ? "the signature manifest has no signature layers" : why));
  return out;
}

}  // namespace

Result<PulledImage> OciImageStore::fromRecord(const PullRequest& req, const Reference& ref,
                                              const ImageRecord& rec, bool* needNetwork) {
  auto incomplete = [&](Status st) {
    *needNetwork = true;
    return st;
  };
  auto manBody = store_.readBlob(rec.manifestDigest, opts_.registry.maxManifestBytes);
  if (!manBody.isOk()) return incomplete(manBody.status());
  auto mt = manifestMediaType(*manBody, "");
  if (!mt.isOk()) return incomplete(mt.status());
  auto m = parseImageManifest(*manBody, *mt);
  if (!m.isOk()) return incomplete(m.status());
  auto cfg = store_.readBlob(m->config.digest, opts_.maxConfigBytes);
  if (!cfg.isOk()) return incomplete(cfg.status());
  Platform want = req.platform.value_or(opts_.platform);
  if (!rec.platform.empty() && rec.platform != want.toString() &&
      rec.mediaType.find("index") != std::string::npos) {
    return incomplete(failedPrecondition("cached for " + rec.platform));
  }
  PulledImage out;
  out.reference = ref;
  out.digest = rec.digest;
  out.manifestDigest = rec.manifestDigest;
  out.fromCache = true;
  if (req.verifyKeyPem) {
    SK_ASSIGN_OR_RETURN(PublicKey key, PublicKey::fromPem(*req.verifyKeyPem));
    if (rec.signatureKey != key.fingerprint() || rec.signatureBlobs.size() < 2) {
      return incomplete(permissionDenied("no cached signature by this key"));
    }
    auto sigBody = store_.readBlob(rec.signatureBlobs[0], opts_.registry.maxManifestBytes);
    if (!sigBody.isOk()) return incomplete(sigBody.status());
    auto smt = manifestMediaType(*sigBody, "");
    if (!smt.isOk()) return incomplete(smt.status());
    FetchedManifest sig{*smt, rec.signatureBlobs[0], *sigBody};
    auto fetchCached = [&](const Descriptor& d) -> Result<std::string> {
      if (d.digest != rec.signatureBlobs[1]) return notFound("not the verified payload");
      return store_.readBlob(d.digest, kMaxSignaturePayloadBytes);
    };
    SigCheck c = checkSignatureManifest(sig, key, rec.digest, fetchCached);
    if (!c.status.isOk()) c = checkSignatureManifest(sig, key, rec.manifestDigest, fetchCached);
    if (!c.status.isOk()) return incomplete(c.status);
    out.signatureVerified = true;
  }
  SK_ASSIGN_OR_RETURN(auto lbls, configLabels(*m, *cfg, want, false));
  auto art = parseSchedulerArtifact(lbls, m->annotations);
  if (!art.isOk()) return art.status().withContext(ref.toString());
  out.artifact = std::move(*art);
  if (!store_.hasRootfs(rec.manifestDigest)) {
    for (const auto& l : m->layers) {
      if (!store_.hasBlob(l.digest))
        return incomplete(notFound("layer " + l.digest.toString() + " not cached"));
    }
    auto diffIds = layerDiffIds(*m, *cfg);
    if (!diffIds.isOk()) return diffIds.status().withContext(ref.toString());
    auto root =
        ensureRootfs(rec.manifestDigest, m->layers, *diffIds, req, [&](const std::string& r) {
          SchedulerArtifact probe = out.artifact;
          return checkArtifactInRoot(probe, r);
        });
    if (!root.isOk()) return incomplete(root.status());
  }
  out.rootfs = store_.rootfsPath(rec.manifestDigest);
  SK_RETURN_IF_ERROR(checkArtifactInRoot(out.artifact, out.rootfs).withContext(ref.toString()));
  report(req, "done", out.digest.toString());
  return out;
}

struct OciImageStore::Resolved {
  std::unique_ptr<Source> src;
  FetchedManifest top, man;
  ImageManifest manifest;
  Platform platform;
  std::vector<Digest> sigBlobs;
  std::vector<Digest> diffIds;  // empty: not checked
  std::string signatureKey;
  PulledImage out;  // everything but rootfs and the artifact's hostPath
};

// Manifests, platform, signature and config: everything a pull decides before layers.
Result<OciImageStore::Resolved> OciImageStore::resolve(const PullRequest& req,
                                                       const Reference& ref) {
  Resolved res;
  auto& src = res.src;
  if (ref.isLayout()) {
    src = std::make_unique<LayoutSource>(ref.layoutPath);
  } else {
    src = std::make_unique<RegistrySource>(client_, ref, req.credentials);
  }
  std::string what = ref.toString();
  auto ctx = [&](const Status& st) { return st.withContext(what); };
  std::optional<PublicKey> key;
  if (req.verifyKeyPem) {
    auto k = PublicKey::fromPem(*req.verifyKeyPem);
    if (!k.isOk()) return k.status();
    key = std::move(*k);
  }
  Platform want = req.platform.value_or(opts_.platform);

  report(req, "resolving");
  std::string wantRef =
      ref.pinned() ? ref.digest.toString() : (ref.isLayout() ? ref.tag : ref.tagOrDigest());
  auto top = src->manifest(wantRef);
  if (!top.isOk()) return ctx(top.status());
  if (ref.pinned()) SK_RETURN_IF_ERROR(ctx(verifyDigest("manifest", ref.digest, top->digest)));

  FetchedManifest man = *top;
  bool fromIndex = media::isIndex(top->mediaType);
  if (fromIndex) {
    auto idx = parseImageIndex(top->body, top->mediaType);
    if (!idx.isOk()) return ctx(idx.status());
    auto d = selectPlatform(*idx, want);
    if (!d.isOk()) return ctx(d.status());
    auto m = src->manifest(d->digest.toString());
    if (!m.isOk()) return ctx(m.status());
    if (static_cast<std::int64_t>(m->body.size()) != d->size) {
      return ctx(
          dataLoss("manifest " + d->digest.toString() + " size differs from its index entry"));
    }
    man = std::move(*m);
  }
  if (!media::isManifest(man.mediaType)) {
    return ctx(invalidArgument("wrong media type: " + man.digest.toString() + " is " +
                               man.mediaType + ", not an image manifest"));
  }
  auto m = parseImageManifest(man.body, man.mediaType);
  if (!m.isOk()) return ctx(m.status());

  PulledImage& out = res.out;
  out.reference = ref;
  out.digest = top->digest;
  out.manifestDigest = man.digest;
  std::vector<Digest>& sigBlobs = res.sigBlobs;
  if (key) {
    report(req, "verifying", top->digest.toString());
    auto fetchPayload = [&](const Descriptor& d) -> Result<std::string> {
      SK_ASSIGN_OR_RETURN(std::string b, src->blobBytes(d, kMaxSignaturePayloadBytes));
      SK_RETURN_IF_ERROR(store_.putBlob(d.digest, b));
      return b;
    };
    SigCheck c;
    c.status = notFound("");
    for (const Digest& signedDigest : {top->digest, man.digest}) {
      auto sig = src->manifest(cosignSignatureTag(signedDigest));
      if (!sig.isOk()) {
        if (sig.status().code() == StatusCode::kNotFound) {
          if (c.status.code() == StatusCode::kNotFound) {
            c.status = permissionDenied("the image is not signed: no signature manifest at tag " +
                                        cosignSignatureTag(top->digest));
          }
          if (!fromIndex) break;
          continue;
        }
        return ctx(sig.status().withContext("fetching the signature"));
      }
      c = checkSignatureManifest(*sig, *key, signedDigest, fetchPayload);
      if (c.status.isOk()) {
        SK_RETURN_IF_ERROR(store_.putBlob(sig->digest, sig->body));
        break;
      }
      if (!fromIndex) break;
    }
    if (!c.status.isOk()) return ctx(c.status.withContext("signature verification failed"));
    sigBlobs = c.blobs;
    out.signatureVerified = true;
    deps_.log.info("image signature verified",
                   {{"image", what}, {"key", key->fingerprint().substr(0, 16)}});
  }

  SK_RETURN_IF_ERROR(store_.putBlob(top->digest, top->body));
  if (fromIndex) SK_RETURN_IF_ERROR(store_.putBlob(man.digest, man.body));

  // Config: small, read into memory.
  std::string config;
  if (m->config.size > opts_.maxConfigBytes) {
    return ctx(resourceExhausted("config is " + std::to_string(m->config.size) +
                                 " bytes, over the " + std::to_string(opts_.maxConfigBytes) +
                                 "-byte limit"));
  }
  if (auto cached = store_.readBlob(m->config.digest, opts_.maxConfigBytes); cached.isOk()) {
    config = std::move(*cached);
  } else {
    auto b = src->blobBytes(m->config, opts_.maxConfigBytes);
    if (!b.isOk()) return ctx(b.status().withContext("config"));
    SK_RETURN_IF_ERROR(store_.putBlob(m->config.digest, *b));
    config = std::move(*b);
  }
  auto diffIds = layerDiffIds(*m, config);
  if (!diffIds.isOk()) return ctx(diffIds.status());
  res.diffIds = std::move(*diffIds);
  auto lbls = configLabels(*m, config, want, !fromIndex);
  if (!lbls.isOk()) return ctx(lbls.status());
  auto art = parseSchedulerArtifact(*lbls, m->annotations);
  if (!art.isOk()) return ctx(art.status());
  out.artifact = std::move(*art);
  res.top = std::move(*top);
  res.man = std::move(man);
  res.manifest = std::move(*m);
  res.platform = want;
  res.signatureKey = key ? key->fingerprint() : "";
  return res;
}

Result<PulledImage> OciImageStore::fetch(const PullRequest& req, const Reference& ref) {
  std::string what = ref.toString();
  auto ctx = [&](const Status& st) { return st.withContext(what); };
  SK_ASSIGN_OR_RETURN(Resolved res, resolve(req, ref));
  auto& src = res.src;
  const FetchedManifest* top = &res.top;
  const FetchedManifest& man = res.man;
  const ImageManifest* m = &res.manifest;
  PulledImage& out = res.out;
  const Platform& want = res.platform;
  const std::vector<Digest>& sigBlobs = res.sigBlobs;

  // Layers.
  for (std::size_t i = 0; i < m->layers.size(); ++i) {
    const Descriptor& l = m->layers[i];
    std::string name = "layer " + std::to_string(i) + " (" + l.digest.toString() + ")";
    if (!media::isLayer(l.mediaType)) {
      return ctx(invalidArgument("wrong media type: " + name + " is \"" + l.mediaType +
                                 "\", not a tar layer"));
    }
    if (l.size > opts_.limits.maxBytes) {
      return ctx(resourceExhausted(name + " is " + std::to_string(l.size) +
                                   " bytes compressed, over the " +
                                   std::to_string(opts_.limits.maxBytes) + "-byte unpack limit"));
    }
    if (store_.hasBlob(l.digest)) continue;
    auto lock = store_.lockBlob(l.digest);
    if (!lock.isOk()) return ctx(lock.status());
    if (store_.hasBlob(l.digest)) continue;  // another pull fetched it meanwhile
    auto w = store_.newBlobWriter(l);
    if (!w.isOk()) return ctx(w.status());
    report(req, "downloading", l.digest.toString(), 0, l.size);
    Status st = src->blob(l, **w, [&](std::int64_t done, std::int64_t total) {
      report(req, "downloading", l.digest.toString(), done, total);
    });
    if (st.isOk()) st = (*w)->commit();
    if (!st.isOk()) return ctx(st.withContext(name));
  }
  if (cancel_->cancelled()) return cancelled("pull cancelled");

  auto root = ensureRootfs(man.digest, m->layers, res.diffIds, req, [&](const std::string& r) {
    SchedulerArtifact probe = out.artifact;
    return checkArtifactInRoot(probe, r);
  });
  if (!root.isOk()) return ctx(root.status());
  out.rootfs = *root;
  SK_RETURN_IF_ERROR(ctx(checkArtifactInRoot(out.artifact, out.rootfs)));

  ImageRecord rec;
  rec.digest = top->digest;
  rec.mediaType = top->mediaType;
  rec.manifestDigest = man.digest;
  rec.configDigest = m->config.digest;
  for (const auto& l : m->layers) rec.layers.push_back(l.digest);
  rec.platform = want.toString();
  rec.signatureBlobs = sigBlobs;
  rec.signatureKey = res.signatureKey;
  rec.pulledAt = formatRfc3339(deps_.clock.wallNow());
  for (const std::string& name : {ref.toString(), ref.withDigest(top->digest).toString()}) {
    rec.reference = name;
    SK_RETURN_IF_ERROR(store_.putRecord(rec));
  }
  report(req, "done", out.digest.toString());
  return out;
}

Result<ImageInfo> OciImageStore::inspect(const PullRequest& req) {
  if (cancel_->cancelled()) return cancelled("image store is shutting down");
  auto ref = parseReference(req.image);
  if (!ref.isOk()) return ref.status();
  SK_ASSIGN_OR_RETURN(FileLock storeLock, store_.lockStore(false));
  SK_ASSIGN_OR_RETURN(Resolved res, resolve(req, *ref));
  ImageInfo info;
  info.reference = *ref;
  info.digest = res.top.digest;
  info.mediaType = res.top.mediaType;
  info.manifestDigest = res.man.digest;
  info.platform = res.platform;
  info.artifact = std::move(res.out.artifact);
  info.layers = res.manifest.layers;
  info.signatureVerified = res.out.signatureVerified;
  return info;
}

ImagePuller::ImagePuller(ImageStore& store, Post post) : store_(store), post_(std::move(post)) {
  worker_ = std::thread([this] { run(); });
}

ImagePuller::~ImagePuller() {
  std::deque<Job> dropped;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    dropped.swap(jobs_);
  }
  store_.cancel();
  cv_.notify_all();
  worker_.join();
  for (auto& j : dropped) {
    auto done = std::move(j.done);
    post_([done = std::move(done)] { done(cancelled("image puller stopped")); });
  }
}

std::uint64_t ImagePuller::pull(PullRequest req, Done done) {
  std::lock_guard lk(mu_);
  std::uint64_t id = next_++;
  jobs_.push_back({id, std::move(req), std::move(done)});
  cv_.notify_one();
  return id;
}

std::size_t ImagePuller::queued() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

void ImagePuller::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    auto result = std::make_shared<Result<PulledImage>>(store_.pull(job.req));
    post_([done = std::move(job.done), result] { done(std::move(*result)); });
  }
}

}  // namespace schedkit::oci
