#include "reconcilers/image_pinner.h"

#include "schedkit/oci/credentials.h"
#include "schedkit/oci/reference.h"

namespace schedkit::op {

Result<std::string> RegistryImagePinner::pin(const std::string& image,
                                              const std::vector<std::string>& pullSecrets) {
  SK_ASSIGN_OR_RETURN(oci::Reference ref, oci::parseReference(image));
  if (ref.isLayout()) return invalidArgument("an OCI layout on the node has no registry digest");
  if (ref.pinned()) return ref.withDigest(ref.digest).toString();
  oci::Keychain keys;
  for (const auto& name : pullSecrets) {
    auto s = secrets_.get(kube::resources::kSecrets, ns_, name);
    if (!s.isOk()) return s.status().withContext("reading pull secret " + ns_ + "/" + name);
    std::map<std::string, std::string> data;
    if (auto it = s->find("data"); it != s->end() && it->is_object()) {
      for (const auto& [k, v] : it->items()) {
        if (v.is_string()) data[k] = v.get<std::string>();
      }
    }
    if (Status st = keys.addPullSecretData(data); !st.isOk()) {
      return st.withContext("pull secret " + ns_ + "/" + name);
    }
  }
  SK_ASSIGN_OR_RETURN(oci::FetchedManifest m, registry_.getManifest(ref, ref.tagOrDigest(), keys));
  return ref.withDigest(m.digest).toString();
}

PinCache::PinCache(ImagePinner& pinner, const Clock& clock, Random& random, const Logger& log,
                   Duration ttl)
    : pinner_(pinner), clock_(clock), random_(random), log_(log), ttl_(ttl) {}

PinCache::Answer PinCache::get(const std::string& image, const std::vector<std::string>& pullSecrets) {
  std::string key = image;
  for (const auto& s : pullSecrets) key += "\n" + s;
  MonoTime now = clock_.now();
  auto [it, fresh] = entries_.try_emplace(
      key, Entry{{}, {}, Backoff({std::chrono::seconds(2), std::chrono::minutes(5), 2.0, 0.2})});
  Entry& e = it->second;
  if (!fresh) {
    if (e.answer.ok && now - e.askedAt < ttl_) return e.answer;
    if (!e.answer.ok && now < e.answer.retryAt) return e.answer;
  }
  e.askedAt = now;
  auto r = pinner_.pin(image, pullSecrets);
  if (r.isOk()) {
    e.answer = {true, *r, "", {}};
    e.backoff.reset();
    log_.info("image pinned", {{"image", image}, {"digest", *r}});
  } else {
    Duration wait = e.backoff.next(random_);
    e.answer = {false, "", r.status().toString(), now + wait};
    log_.warn("cannot resolve the image to a digest; will retry",
              {{"image", image}, {"error", r.status()}, {"retry_in", wait}});
  }
  return e.answer;
}

std::optional<MonoTime> PinCache::nextRetry() const {
  std::optional<MonoTime> next;
  for (const auto& [k, e] : entries_) {
    if (!e.answer.ok && (!next || e.answer.retryAt < *next)) next = e.answer.retryAt;
  }
  return next;
}

}  // namespace schedkit::op
