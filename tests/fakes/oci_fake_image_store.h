#pragma once

// A fake ImageStore for tests of the image store's users (the agent's image resolver, the
// node engine): canned results per image, every request recorded, no network or disk. Pair it
// with the real ImagePuller and a PostedQueue, which holds what the puller posts until the test
// runs it on its own thread, as the agent's event loop would.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "schedkit/oci/image_store.h"

namespace schedkit::oci::testing {

class FakeImageStore final : public ImageStore {
 public:
  // The result for pulls of `image` (the string exactly as requested).
  void set(const std::string& image, Result<PulledImage> r) {
    std::lock_guard lk(mu_);
    results_.insert_or_assign(image, std::move(r));
  }
  // A successful pull of `image`: a binary scheduler at /usr/bin/scx_test, pinned to a digest
  // made from the image string. Returns it so a test can adjust it and set() it again.
  PulledImage succeed(const std::string& image, std::string opsName = "test",
                      std::vector<std::string> args = {}) {
    PulledImage p;
    auto ref = parseReference(image);
    if (ref.isOk()) p.reference = *ref;
    p.digest = Digest::of(image);
    p.manifestDigest = Digest::of("manifest " + image);
    p.rootfs = "/var/lib/schedkit/images/rootfs/" + p.manifestDigest.hex();
    p.artifact.type = ArtifactType::kBinary;
    p.artifact.path = "/usr/bin/scx_test";
    p.artifact.hostPath = p.rootfs + p.artifact.path;
    p.artifact.opsName = std::move(opsName);
    p.artifact.args = std::move(args);
    set(image, p);
    return p;
  }

  Result<PulledImage> pull(const PullRequest& req) override {
    std::lock_guard lk(mu_);
    requests_.push_back(req);
    if (cancelled_) return schedkit::cancelled("image store is shutting down");
    auto it = results_.find(req.image);
    if (it == results_.end()) return notFound("fake image store: no result for " + req.image);
    return it->second;
  }
  Result<ImageInfo> inspect(const PullRequest& req) override {
    auto r = pull(req);
    if (!r.isOk()) return r.status();
    ImageInfo i;
    i.reference = r->reference;
    i.digest = r->digest;
    i.manifestDigest = r->manifestDigest;
    i.artifact = r->artifact;
    i.artifact.hostPath.clear();
    i.signatureVerified = r->signatureVerified;
    return i;
  }
  Result<GcStats> garbageCollect(const GcOptions& opts) override {
    std::lock_guard lk(mu_);
    gcCalls_.push_back(opts);
    return GcStats{};
  }
  void cancel() override {
    std::lock_guard lk(mu_);
    cancelled_ = true;
  }

  std::vector<PullRequest> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }
  std::vector<GcOptions> gcCalls() const {
    std::lock_guard lk(mu_);
    return gcCalls_;
  }
  bool cancelled() const {
    std::lock_guard lk(mu_);
    return cancelled_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Result<PulledImage>> results_;
  std::vector<PullRequest> requests_;
  std::vector<GcOptions> gcCalls_;
  bool cancelled_ = false;
};

// Holds callbacks posted from other threads (an ImagePuller's results) until the test runs them.
class PostedQueue {
 public:
  ImagePuller::Post post() {
    return [this](std::function<void()> fn) {
      {
        std::lock_guard lk(mu_);
        q_.push_back(std::move(fn));
      }
      cv_.notify_all();
    };
  }
  // Waits until `n` callbacks are queued (blocking on the poster, not on time), then runs them
  // in order on the calling thread.
  void runNext(std::size_t n = 1) {
    std::deque<std::function<void()>> run;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return q_.size() >= n; });
      for (std::size_t i = 0; i < n; ++i) {
        run.push_back(std::move(q_.front()));
        q_.pop_front();
      }
    }
    for (auto& f : run) f();
  }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return q_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
};

}  // namespace schedkit::oci::testing
