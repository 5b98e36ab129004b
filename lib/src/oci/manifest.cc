#include "schedkit/oci/manifest.h"

#include <sys/utsname.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "schedkit/oci/media_types.h"

namespace schedkit::oci {

using nlohmann::json;

namespace media {

bool isManifest(std::string_view mt) { return mt == kOciManifest || mt == kDockerManifest; }
bool isIndex(std::string_view mt) { return mt == kOciIndex || mt == kDockerManifestList; }
bool isConfig(std::string_view mt) { return mt == kOciConfig || mt == kDockerConfig; }

bool isLayer(std::string_view mt, LayerCompression* c) {
  LayerCompression got;
  if (mt == kOciLayerTar || mt == kOciLayerNdTar) {
    got = LayerCompression::kNone;
  } else if (mt == kOciLayerGzip || mt == kOciLayerNdGzip || mt == kDockerLayerGzip ||
             mt == kDockerLayerForeignGzip) {
    got = LayerCompression::kGzip;
  } else if (mt == kOciLayerZstd || mt == kOciLayerNdZstd) {
    got = LayerCompression::kZstd;
  } else {
    return false;
  }
  if (c != nullptr) *c = got;
  return true;
}

}  // namespace media

namespace {

std::string stripParams(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view v = ct.substr(0, semi);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  std::string out(v);
  std::transform(out.begin(), out.end(), out.begin(), ::tolower);
  return out;
}

Result<json> parseObject(std::string_view body, std::string_view what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalidArgument(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return invalidArgument(std::string(what) + " is not a JSON object");
  return j;
}

// Every accessor below may throw nlohmann::json::exception on a wrong type; callers catch.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->get<std::string>();
}

std::map<std::string, std::string> strMap(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  for (auto& [k, v] : it->items()) out[k] = v.get<std::string>();
  return out;
}

std::vector<std::string> strList(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  for (auto& v : *it) out.push_back(v.get<std::string>());
  return out;
}

Result<Descriptor> descriptorFrom(const json& j, const std::string& where) {
  if (!j.is_object()) return invalidArgument(where + ": descriptor is not an object");
  Descriptor d;
  d.mediaType = str(j, "mediaType");
  if (d.mediaType.empty()) return invalidArgument(where + ": descriptor has no mediaType");
  auto dg = Digest::parse(str(j, "digest"));
  if (!dg.isOk()) return dg.status().withContext(where);
  d.digest = *dg;
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer()) {
    return invalidArgument(where + ": descriptor has no integer size");
  }
  d.size = sz->get<std::int64_t>();
  if (d.size < 0) return invalidArgument(where + ": descriptor size is negative");
  d.annotations = strMap(j, "annotations");
  d.urls = strList(j, "urls");
  auto p = j.find("platform");
  if (p != j.end() && !p->is_null()) {
    Platform pl;
    pl.os = str(*p, "os");
    pl.architecture = str(*p, "architecture");
    pl.variant = str(*p, "variant");
    d.platform = pl;
  }
  return d;
}

template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    return invalidArgument(std::string(what) + ": " + e.what());
  }
}

Status checkSchemaVersion(const json& j, std::string_view what) {
  auto sv = j.find("schemaVersion");
  if (sv == j.end() || !sv->is_number_integer()) {
    return invalidArgument(std::string(what) + " has no schemaVersion");
  }
  if (sv->get<long long>() == 1) {
    return invalidArgument(
        "Docker schema 1 manifests are not supported (push the image again "
        "with a current client)");
  }
  if (sv->get<long long>() != 2) {
    return invalidArgument(std::string(what) + ": schemaVersion " +
                           std::to_string(sv->get<long long>()) + " is not supported");
  }
  return Status::ok();
}

nlohmann::ordered_json orderedDescriptor(const Descriptor& d) {
  nlohmann::ordered_json j;
  j["mediaType"] = d.mediaType;
  j["digest"] = d.digest.toString();
  j["size"] = d.size;
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) {
    nlohmann::ordered_json p;
    p["architecture"] = d.platform->architecture;
    p["os"] = d.platform->os;
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    j["platform"] = p;
  }
  return j;
}

std::string normVariant(const Platform& p) {
  if (p.architecture == "arm64" && p.variant.empty()) return "v8";
  return p.variant;
}

}  // namespace

std::string Platform::toString() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

Platform hostPlatform() {
  Platform p{"linux", "", ""};
  utsname u{};
  std::string m = ::uname(&u) == 0 ? u.machine : "";
  if (m == "x86_64" || m == "amd64") {
    p.architecture = "amd64";
  } else if (m == "aarch64" || m == "arm64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (m.rfind("armv7", 0) == 0) {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (m.rfind("armv6", 0) == 0) {
    p.architecture = "arm";
    p.variant = "v6";
  } else if (m == "i686" || m == "i386") {
    p.architecture = "386";
  } else if (m == "ppc64le" || m == "s390x" || m == "riscv64") {
    p.architecture = m;
  } else {
    p.architecture = m;
  }
  return p;
}

Result<Platform> parsePlatform(std::string_view s) {
  Platform p;
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto next = s.find('/', pos);
    if (next == std::string_view::npos) next = s.size();
    parts.emplace_back(s.substr(pos, next - pos));
    pos = next + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
    return invalidArgument("platform \"" + std::string(s) + "\" is not os/arch[/variant]");
  }
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

Result<std::string> manifestMediaType(std::string_view body, std::string_view served) {
  SK_ASSIGN_OR_RETURN(json j, parseObject(body, "manifest"));
  return guarded("manifest", [&]() -> Result<std::string> {
    SK_RETURN_IF_ERROR(checkSchemaVersion(j, "manifest"));
    std::string declared = str(j, "mediaType");
    std::string ct = stripParams(served);
    bool ctKnown = media::isManifest(ct) || media::isIndex(ct);
    if (!declared.empty()) {
      if (!media::isManifest(declared) && !media::isIndex(declared)) {
        return invalidArgument("unsupported manifest media type \"" + declared + "\"");
      }
      if (ctKnown && ct != declared) {
        return invalidArgument("wrong media type: the registry served " + ct +
                               " but the manifest says " + declared);
      }
      return declared;
    }
    if (ctKnown) return ct;
    if (j.contains("manifests")) return std::string(media::kOciIndex);
    if (j.contains("config") && j.contains("layers")) return std::string(media::kOciManifest);
    return invalidArgument("manifest has no mediaType and an unrecognised shape (served as \"" +
                           ct + "\")");
  });
}

Result<ImageManifest> parseImageManifest(std::string_view body, std::string_view mediaType) {
  if (!media::isManifest(mediaType)) {
    return invalidArgument("expected an image manifest, got " + std::string(mediaType));
  }
  SK_ASSIGN_OR_RETURN(json j, parseObject(body, "image manifest"));
  return guarded("image manifest", [&]() -> Result<ImageManifest> {
    SK_RETURN_IF_ERROR(checkSchemaVersion(j, "image manifest"));
    ImageManifest m;
    m.mediaType = std::string(mediaType);
    std::string declared = str(j, "mediaType");
    if (!declared.empty() && declared != mediaType) {
      return invalidArgument("image manifest says mediaType " + declared + ", expected " +
                             std::string(mediaType));
    }
    if (!j.contains("config")) return invalidArgument("image manifest has no config");
    SK_ASSIGN_OR_RETURN(m.config, descriptorFrom(j.at("config"), "config"));
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) {
      return invalidArgument("image manifest has no layers array");
    }
    if (layers->size() > 1000) return invalidArgument("image manifest has more than 1000 layers");
    for (std::size_t i = 0; i < layers->size(); ++i) {
      SK_ASSIGN_OR_RETURN(auto d,
                          descriptorFrom((*layers)[i], "layers[" + std::to_string(i) + "]"));
      m.layers.push_back(std::move(d));
    }
    m.annotations = strMap(j, "annotations");
    m.artifactType = str(j, "artifactType");
    auto subj = j.find("subject");
    if (subj != j.end() && !subj->is_null()) {
      SK_ASSIGN_OR_RETURN(auto d, descriptorFrom(*subj, "subject"));
      m.subject = std::move(d);
    }
    return m;
  });
}

Result<ImageIndex> parseImageIndex(std::string_view body, std::string_view mediaType) {
  if (!media::isIndex(mediaType)) {
    return invalidArgument("expected an image index, got " + std::string(mediaType));
  }
  SK_ASSIGN_OR_RETURN(json j, parseObject(body, "image index"));
  return guarded("image index", [&]() -> Result<ImageIndex> {
    SK_RETURN_IF_ERROR(checkSchemaVersion(j, "image index"));
    ImageIndex idx;
    idx.mediaType = std::string(mediaType);
    auto ms = j.find("manifests");
    if (ms == j.end() || !ms->is_array())
      return invalidArgument("image index has no manifests array");
    if (ms->size() > 1000) return invalidArgument("image index has more than 1000 entries");
    for (std::size_t i = 0; i < ms->size(); ++i) {
      SK_ASSIGN_OR_RETURN(auto d, descriptorFrom((*ms)[i], "manifests[" + std::to_string(i) + "]"));
      idx.manifests.push_back(std::move(d));
    }
    idx.annotations = strMap(j, "annotations");
    return idx;
  });
}

Result<ImageConfig> parseImageConfig(std::string_view body) {
  SK_ASSIGN_OR_RETURN(json j, parseObject(body, "image config"));
  return guarded("image config", [&]() -> Result<ImageConfig> {
    ImageConfig c;
    c.platform.os = str(j, "os");
    c.platform.architecture = str(j, "architecture");
    c.platform.variant = str(j, "variant");
    auto cfg = j.find("config");
    if (cfg != j.end() && cfg->is_object()) {
      c.labels = strMap(*cfg, "Labels");
      c.entrypoint = strList(*cfg, "Entrypoint");
      c.cmd = strList(*cfg, "Cmd");
      c.env = strList(*cfg, "Env");
    }
    auto rootfs = j.find("rootfs");
    if (rootfs != j.end() && rootfs->is_object()) {
      for (const auto& id : strList(*rootfs, "diff_ids")) {
        SK_ASSIGN_OR_RETURN(auto d, Digest::parse(id));
        c.diffIds.push_back(d);
      }
    }
    return c;
  });
}

Result<Descriptor> parseDescriptorJson(std::string_view body) {
  SK_ASSIGN_OR_RETURN(json j, parseObject(body, "descriptor"));
  return guarded("descriptor",
                 [&]() -> Result<Descriptor> { return descriptorFrom(j, "descriptor"); });
}

Result<Descriptor> selectPlatform(const ImageIndex& index, const Platform& want) {
  const Descriptor* best = nullptr;
  bool bestExact = false;
  std::vector<std::string> seen;
  for (const auto& d : index.manifests) {
    if (!d.platform) continue;
    const Platform& p = *d.platform;
    if (p.os == "unknown" || p.architecture == "unknown") continue;  // attestations
    seen.push_back(p.toString());
    if (!media::isManifest(d.mediaType)) continue;
    if (p.os != want.os || p.architecture != want.architecture) continue;
    std::string pv = normVariant(p), wv = normVariant(want);
    if (!wv.empty() && !p.variant.empty() && pv != wv) continue;
    bool exact = pv == wv;
    if (best == nullptr || (exact && !bestExact)) {
      best = &d;
      bestExact = exact;
    }
  }
  if (best != nullptr) return *best;
  std::string have;
  for (const auto& s : seen) have += (have.empty() ? "" : ", ") + s;
  return notFound("no image for platform " + want.toString() +
                  " in the index (it has: " + (have.empty() ? "no platform entries" : have) + ")");
}

std::string descriptorJson(const Descriptor& d) { return orderedDescriptor(d).dump(); }

std::string imageManifestJson(const ImageManifest& m) {
  nlohmann::ordered_json j;
  j["schemaVersion"] = 2;
  j["mediaType"] = m.mediaType.empty() ? std::string(media::kOciManifest) : m.mediaType;
  if (!m.artifactType.empty()) j["artifactType"] = m.artifactType;
  j["config"] = orderedDescriptor(m.config);
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : m.layers) j["layers"].push_back(orderedDescriptor(l));
  if (m.subject) j["subject"] = orderedDescriptor(*m.subject);
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump();
}

std::string imageIndexJson(const ImageIndex& i) {
  nlohmann::ordered_json j;
  j["schemaVersion"] = 2;
  j["mediaType"] = i.mediaType.empty() ? std::string(media::kOciIndex) : i.mediaType;
  j["manifests"] = nlohmann::ordered_json::array();
  for (const auto& m : i.manifests) j["manifests"].push_back(orderedDescriptor(m));
  if (!i.annotations.empty()) j["annotations"] = i.annotations;
  return j.dump();
}

}  // namespace schedkit::oci
