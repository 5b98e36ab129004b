#include "app/image_resolver.h"

#include <algorithm>
#include <cmath>

#include "schedkit/common/duration.h"
#include "schedkit/oci/credentials.h"

namespace schedkit::agent {

void applyPulledImage(const oci::PulledImage& img, DesiredScheduler& d) {
  const oci::SchedulerArtifact& a = img.artifact;
  LaunchSpec& l = d.launch;
  l.rootfs = img.rootfs;
  l.path = a.path;
  l.type = a.type == oci::ArtifactType::kBpfObject ? policy::SchedulerType::kBpfObject
                                                   : policy::SchedulerType::kBinary;
  // computeDesired() sets the spec's opsName only when the revision runs the spec's scheduler
  // (not a stable revision's other image): otherwise the image's own label says.
  if (l.expectedOps.empty()) l.expectedOps = a.opsName;
  if (l.args.empty()) l.args = a.args;  // the image's defaults, unless the policy says otherwise
  l.image = img.pinnedReference();
  d.minKernel = a.kernelMin;
}

DesiredScheduler ImageResolver::resolve(DesiredScheduler d, const policy::SchedulerSpec& spec) {
  if (d.launch.image.empty()) return d;
  std::string key = d.launch.revision + "|" + d.launch.image;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    startPull(key, spec);
    it = entries_.find(key);
  }
  const Entry& e = it->second;
  switch (e.state) {
    case Entry::State::kReady:
      applyPulledImage(e.image, d);
      break;
    case Entry::State::kPulling:
      d.blockedReason = "Pulling";
      d.blockedMessage = "pulling " + d.launch.image;
      d.blockedPhase = policy::NodePhase::kPulling;
      break;
    case Entry::State::kFailed:
      d.blockedReason = "PullFailed";
      d.blockedMessage = e.error;
      d.blockedPhase = policy::NodePhase::kFailed;
      break;
  }
  // Forget pulls for revisions no longer wanted (their cache entries stay for the GC).
  for (auto i = entries_.begin(); i != entries_.end();) {
    if (i->first != key && i->second.state != Entry::State::kPulling) {
      if (i->second.retry != 0) d_.clock.cancel(i->second.retry);
      i = entries_.erase(i);
    } else {
      ++i;
    }
  }
  return d;
}

void ImageResolver::startPull(const std::string& key, const policy::SchedulerSpec& spec) {
  Entry& e = entries_[key];
  e.state = Entry::State::kPulling;
  oci::PullRequest req;
  req.image = key.substr(key.find('|') + 1);
  req.policy = spec.imagePullPolicy == policy::PullPolicy::kAlways ? oci::PullPolicy::kAlways
               : spec.imagePullPolicy == policy::PullPolicy::kNever ? oci::PullPolicy::kNever
                                                                     : oci::PullPolicy::kIfNotPresent;
  // Secrets are read now, on the loop: a rotated secret is picked up by the next attempt.
  Status secretError;
  for (const auto& name : spec.imagePullSecrets) {
    if (d_.secrets == nullptr) break;
    auto data = d_.secrets->get(name);
    Status s = data.isOk() ? req.credentials.addPullSecretData(*data) : data.status();
    if (!s.isOk()) {
      // A missing pull secret is reported but not fatal: the image may be public.
      d_.log.warn("cannot use image pull secret", {{"secret", name}, {"error", s}});
    }
  }
  if (spec.verify) {
    const auto& ref = spec.verify->publicKey;
    Result<std::map<std::string, std::string>> data =
        d_.secrets != nullptr ? d_.secrets->get(ref.name)
                              : Result<std::map<std::string, std::string>>(
                                    failedPrecondition("no secret source configured"));
    Result<std::string> pem = data.isOk() && data->count(ref.key)
                                  ? oci::base64Decode(data->at(ref.key))
                                  : Result<std::string>(data.isOk()
                                                            ? notFound("secret " + ref.name +
                                                                       " has no key " + ref.key)
                                                            : data.status());
    if (!pem.isOk()) {
      e.state = Entry::State::kFailed;
      e.error = "cannot read the signature verification key: " + pem.status().message();
      d_.log.error("image verification key unavailable", {{"image", req.image}, {"error", pem.status()}});
      e.retry = d_.clock.callAfter(std::chrono::seconds(30), [this, key, spec] {
        entries_.erase(key);
        if (d_.onChange) d_.onChange();
      });
      return;
    }
    req.verifyKeyPem = *pem;
  }
  d_.log.info("pulling image", {{"image", req.image}, {"policy", oci::toString(req.policy)}});
  d_.puller.pull(std::move(req), [this, key, spec](Result<oci::PulledImage> r) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& en = it->second;
    if (r.isOk()) {
      en.state = Entry::State::kReady;
      en.image = std::move(r).value();
      en.failures = 0;
      d_.log.info("image ready", {{"image", en.image.pinnedReference()},
                                  {"type", std::string(oci::toString(en.image.artifact.type))},
                                  {"from_cache", en.image.fromCache},
                                  {"signature_verified", en.image.signatureVerified}});
    } else {
      en.state = Entry::State::kFailed;
      en.error = r.status().message();
      en.failures++;
      double base = 5.0 * std::pow(2.0, std::min(en.failures - 1, 6));
      Duration delay = std::chrono::duration_cast<Duration>(
          std::chrono::duration<double>(std::min(base, 300.0) * (1.0 - 0.2 * d_.random.unit())));
      d_.log.error("image pull failed", {{"error", r.status()}, {"retry_in", delay}});
      en.retry = d_.clock.callAfter(delay, [this, key, spec] {
        auto i = entries_.find(key);
        if (i == entries_.end()) return;
        i->second.retry = 0;
        startPull(key, spec);
        if (d_.onChange) d_.onChange();
      });
    }
    if (d_.onChange) d_.onChange();
  });
}

}  // namespace schedkit::agent
