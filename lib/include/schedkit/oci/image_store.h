#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/common/status.h"
#include "schedkit/oci/artifact.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/reference.h"
#include "schedkit/oci/registry.h"
#include "schedkit/oci/store.h"
#include "schedkit/oci/unpack.h"

namespace schedkit::oci {

enum class PullPolicy { kAlways, kIfNotPresent, kNever };
Result<PullPolicy> parsePullPolicy(std::string_view s);  // "Always" | "IfNotPresent" | "Never"
std::string_view toString(PullPolicy p);

struct PullProgress {
  std::string phase;   // resolving, verifying, downloading, unpacking, done
  std::string digest;  // the blob, while downloading
  std::int64_t done = 0, total = 0;
};

struct PullRequest {
  std::string image;  // a reference, e.g. "reg:5000/scx/lavd:1.0" or "oci:/path:tag"
  PullPolicy policy = PullPolicy::kIfNotPresent;
  Keychain credentials;                     // from imagePullSecrets / a Docker config.json
  std::optional<std::string> verifyKeyPem;  // cosign public key: the image must be signed
  std::optional<Platform> platform;         // default: ImageStoreOptions::platform
  // Called on the pulling (worker) thread; post to your own loop if you need to.
  std::function<void(const PullProgress&)> onProgress;
};

struct PulledImage {
  Reference reference;    // as asked, normalised
  Digest digest;          // what it resolved to (an index or a manifest): nodes run this
  Digest manifestDigest;  // the platform's image manifest
  std::string rootfs;     // read-only unpacked root in the cache
  SchedulerArtifact artifact;
  bool fromCache = false;
  bool signatureVerified = false;
  // registry/repo@sha256:… (or oci:path@sha256:…): what status reports.
  std::string pinnedReference() const { return reference.withDigest(digest).toString(); }
};

// What an image would run, without its layers (`schedkitctl image inspect`, the operator's
// tag → digest resolution).
struct ImageInfo {
  Reference reference;
  Digest digest;          // what the reference resolves to now
  std::string mediaType;  // of `digest`
  Digest manifestDigest;  // the platform's image manifest
  Platform platform;
  SchedulerArtifact artifact;  // hostPath empty: nothing is unpacked
  std::vector<Descriptor> layers;
  bool signatureVerified = false;
  std::string pinnedReference() const { return reference.withDigest(digest).toString(); }
};

// The agent's image seam (DESIGN.md §3): pull by tag or digest, verify, unpack safely.
//
// Threading contract: pull() blocks on the network and the disk and must never run on the
// agent's event loop; use ImagePuller (below) or your own worker thread. pull() is thread-safe:
// several may run at once (in threads or processes sharing the cache directory); blobs and roots
// are serialised by file locks, and garbageCollect() waits for running pulls (store lock).
class ImageStore {
 public:
  virtual ~ImageStore() = default;
  virtual Result<PulledImage> pull(const PullRequest& req) = 0;
  // Resolves, checks the signature and reads the convention, always from the source (the
  // policy is ignored); fetches no layers and unpacks nothing.
  virtual Result<ImageInfo> inspect(const PullRequest& req) = 0;
  virtual Result<GcStats> garbageCollect(const GcOptions& opts) = 0;
  // Aborts running pulls (kCancelled) and makes later ones fail fast. Thread-safe.
  virtual void cancel() = 0;
};
using ImageStorePtr = std::unique_ptr<ImageStore>;

struct ImageStoreOptions {
  std::string cacheDir;  // e.g. /var/lib/schedkit/images
  RegistryClientOptions registry;
  UnpackLimits limits;
  Platform platform = hostPlatform();
  std::int64_t maxConfigBytes = kMaxConfigBytes;
};

struct ImageStoreDeps {
  TransportFactory transports;  // net::makeCpprestTransport in production
  Clock& clock;
  Random& random;
  const Logger& log;
  Sleeper sleep;  // optional: tests record retry delays instead of waiting
};

// The real ImageStore: RegistryClient (or an OCI layout on disk) + ContentStore + unpackLayers.
//   Always        resolve the reference against the registry on every pull; a digest-pinned
//                 image whose content is all cached is used as is (digests are immutable).
//   IfNotPresent  use the cached image for this reference when complete, else pull.
//   Never         only the cache; kFailedPrecondition when the image is not there.
// A digest-pinned image already cached works with the registry down under every policy. With a
// verify key, cached signatures are re-verified offline; a tag is resolved (and its signature
// fetched) again under Always.
class OciImageStore final : public ImageStore {
 public:
  static Result<std::unique_ptr<OciImageStore>> create(ImageStoreDeps deps, ImageStoreOptions opts);
  Result<PulledImage> pull(const PullRequest& req) override;
  Result<ImageInfo> inspect(const PullRequest& req) override;
  Result<GcStats> garbageCollect(const GcOptions& opts) override;
  void cancel() override;
  ContentStore& contentStore() { return store_; }

 private:
  OciImageStore(ImageStoreDeps deps, ImageStoreOptions opts);
  class Source;
  class RegistrySource;
  class LayoutSource;
  Result<PulledImage> pullLocked(const PullRequest& req, const Reference& ref);
  // A complete cached image for `rec`; *needNetwork says whether a fetch could still help.
  Result<PulledImage> fromRecord(const PullRequest& req, const Reference& ref,
                                 const ImageRecord& rec, bool* needNetwork);
  struct Resolved;
  Result<Resolved> resolve(const PullRequest& req, const Reference& ref);
  Result<PulledImage> fetch(const PullRequest& req, const Reference& ref);
  // Unpacks the layers once per manifest; `check` runs on the new root before it is published.
  Result<std::string> ensureRootfs(const Digest& manifest, const std::vector<Descriptor>& layers,
                                   const std::vector<Digest>& diffIds, const PullRequest& req,
                                   const std::function<Status(const std::string&)>& check);

  ImageStoreDeps deps_;
  ImageStoreOptions opts_;
  CancelTokenPtr cancel_;
  net::CancelTokenPtr netCancel_;
  ContentStore store_;
  RegistryClient client_;
};

// Runs pulls on one worker thread so the event loop never blocks. `post` hands a callback to the
// loop thread (e.g. [&loop](auto fn) { loop.post(std::move(fn)); }); every `done` runs through
// it, so results arrive on the loop. Pulls run one at a time, in order. Destroying the puller
// cancels the store (ImageStore::cancel(): the running pull ends kCancelled, and the store
// refuses later pulls), drops queued ones (their `done` is posted with kCancelled) and joins the
// worker; `post` must stay callable until then. Destroy it at agent shutdown.
class ImagePuller {
 public:
  using Post = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Result<PulledImage>)>;
  ImagePuller(ImageStore& store, Post post);
  ~ImagePuller();
  ImagePuller(const ImagePuller&) = delete;
  ImagePuller& operator=(const ImagePuller&) = delete;

  // Thread-safe. Returns a ticket number (1, 2, ...).
  std::uint64_t pull(PullRequest req, Done done);
  std::size_t queued() const;

 private:
  void run();

  ImageStore& store_;
  Post post_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Job {
    std::uint64_t id;
    PullRequest req;
    Done done;
  };
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::uint64_t next_ = 1;
  std::thread worker_;
};

}  // namespace schedkit::oci
