#include "app/output.h"

#include <cstdio>
#include <sstream>

namespace schedkit::cli {

namespace {

Json platformJson(const oci::Platform& p) {
  Json j;
  j["os"] = p.os;
  j["architecture"] = p.architecture;
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

Json descJson(const oci::Descriptor& d) {
  Json j;
  j["mediaType"] = d.mediaType;
  j["digest"] = d.digest.toString();
  j["size"] = d.size;
  return j;
}

// "key:" padded to a column, then the value.
class TextBlock {
 public:
  TextBlock& line(const std::string& key, const std::string& value) {
    std::string k = key + ":";
    if (k.size() < 16) k.resize(16, ' ');
    ss_ << k << (k.back() == ' ' ? "" : " ") << value << "\n";
    return *this;
  }
  TextBlock& raw(const std::string& s) {
    ss_ << s;
    return *this;
  }
  TextBlock& map(const std::string& title, const std::map<std::string, std::string>& m) {
    if (m.empty()) return *this;
    ss_ << title << ":\n";
    for (const auto& [k, v] : m) ss_ << "  " << k << "=" << v << "\n";
    return *this;
  }
  std::string str() const { return ss_.str(); }

 private:
  std::ostringstream ss_;
};

// 4128768 → "4.1 MB" (decimal, as ls -h --si and docker images print sizes).
std::string megabytes(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string argsText(const std::vector<std::string>& args) {
  return args.empty() ? "(none)" : nlohmann::json(args).dump();
}

void artifactText(TextBlock& t, const oci::SchedulerArtifact& a) {
  t.raw("The agent would run:\n");
  t.line("  type", std::string(oci::toString(a.type)));
  t.line("  path", a.path);
  if (!a.hostPath.empty()) t.line("  host path", a.hostPath);
  t.line("  ops name", a.opsName.empty() ? "(not checked)" : a.opsName + "* (prefix)");
  t.line("  version", a.version.empty() ? "(none)" : a.version);
  t.line("  kernel min", a.kernelMin.empty() ? "(any sched_ext kernel)" : a.kernelMin);
  t.line("  default args", argsText(a.args));
}

}  // namespace

Json artifactJson(const oci::SchedulerArtifact& a) {
  Json j;
  j["type"] = std::string(oci::toString(a.type));
  j["path"] = a.path;
  j["opsName"] = a.opsName;
  j["version"] = a.version;
  j["kernelMin"] = a.kernelMin;
  j["args"] = a.args;
  if (!a.hostPath.empty()) j["hostPath"] = a.hostPath;
  return j;
}

Json errorJson(const Status& s) {
  Json j;
  j["error"]["code"] = std::string(statusCodeName(s.code()));
  j["error"]["message"] = s.message();
  return j;
}

Json toJson(const BuildResult& r) {
  Json j;
  j["reference"] = r.reference;
  j["layout"] = r.layout;
  j["tag"] = r.tag;
  j["digest"] = r.digest.toString();
  j["mediaType"] = r.mediaType;
  j["manifestDigest"] = r.manifestDigest.toString();
  j["platform"] = platformJson(r.platform);
  j["config"] = descJson(r.config);
  j["layers"] = Json::array({descJson(r.layer)});
  j["diffIds"] = Json::array({r.diffId.toString()});
  j["labelsIn"] = r.annotations ? "annotations" : "config";
  j["labels"] = r.labels;
  j["artifact"] = artifactJson(r.artifact);
  if (!r.opsName.empty()) j["objectOpsName"] = r.opsName;
  if (!r.indexPlatforms.empty()) {
    j["platforms"] = Json::array();
    for (const auto& p : r.indexPlatforms) j["platforms"].push_back(platformJson(p));
  }
  if (r.withLibs) {
    j["libraries"] = Json::array();
    for (const auto& l : r.libraries) {
      Json e;
      e["name"] = l.name;
      e["path"] = l.path;
      e["links"] = l.links;
      e["size"] = l.size;
      e["digest"] = l.digest.toString();
      e["interpreter"] = l.interpreter;
      j["libraries"].push_back(e);
    }
  }
  if (!r.notes.empty()) j["notes"] = r.notes;
  return j;
}

Json toJson(const PushResult& r) {
  Json j;
  j["source"] = r.source;
  j["reference"] = r.reference;
  j["digest"] = r.digest.toString();
  j["mediaType"] = r.mediaType;
  j["pinnedReference"] = r.pinnedReference;
  j["blobs"] = {{"pushed", r.blobsPushed}, {"skipped", r.blobsSkipped}, {"bytes", r.bytesPushed}};
  j["platforms"] = Json::array();
  for (const auto& p : r.platforms) j["platforms"].push_back(platformJson(p));
  return j;
}

Json toJson(const InspectResult& r) {
  const oci::ImageInfo& i = r.info;
  Json j;
  j["reference"] = i.reference.toString();
  j["digest"] = i.digest.toString();
  j["mediaType"] = i.mediaType;
  j["pinnedReference"] = i.pinnedReference();
  j["platforms"] = Json::array();
  for (const auto& e : r.index) {
    Json p = platformJson(e.platform);
    p["digest"] = e.digest.toString();
    p["mediaType"] = e.mediaType;
    j["platforms"].push_back(p);
  }
  j["platform"] = platformJson(i.platform);
  j["manifest"] = {{"digest", i.manifestDigest.toString()}, {"mediaType", r.manifestMediaType}};
  j["config"] = descJson(r.config);
  j["layers"] = Json::array();
  for (const auto& l : i.layers) j["layers"].push_back(descJson(l));
  j["labels"] = r.labels;
  j["annotations"] = r.annotations;
  j["artifact"] = artifactJson(i.artifact);
  j["signature"] = {{"status", r.signature}};
  if (!r.signatureError.empty()) j["signature"]["error"] = r.signatureError;
  return j;
}

Json toJson(const oci::PulledImage& r) {
  Json j;
  j["reference"] = r.reference.toString();
  j["digest"] = r.digest.toString();
  j["pinnedReference"] = r.pinnedReference();
  j["manifestDigest"] = r.manifestDigest.toString();
  j["rootfs"] = r.rootfs;
  j["fromCache"] = r.fromCache;
  j["signatureVerified"] = r.signatureVerified;
  j["artifact"] = artifactJson(r.artifact);
  return j;
}

std::string toText(const BuildResult& r) {
  TextBlock t;
  t.line("Built", r.reference);
  t.line("Digest", r.digest.toString());
  if (r.digest != r.manifestDigest) {
    std::string ps;
    for (const auto& p : r.indexPlatforms) ps += (ps.empty() ? "" : ", ") + p.toString();
    t.line("Index of", ps);
  }
  t.line("Manifest", r.manifestDigest.toString() + " (" + r.platform.toString() + ")");
  t.line("Layer", r.layer.digest.toString() + " (" + std::to_string(r.layer.size) + " bytes)");
  if (r.withLibs) {
    std::int64_t bytes = 0;
    for (const auto& l : r.libraries) bytes += l.size;
    t.line("Libraries", r.libraries.empty()
                            ? "none (statically linked)"
                            : std::to_string(r.libraries.size()) + " (" + megabytes(bytes) + ")");
    for (const auto& l : r.libraries) {
      std::string as;
      for (const auto& k : l.links) as += (as.empty() ? "; as " : ", ") + k;
      t.raw("  " + l.path + " (" + std::to_string(l.size) + " bytes" + as + ")\n");
    }
  }
  t.map(r.annotations ? "Annotations (artifact style)" : "Labels", r.labels);
  if (!r.opsName.empty()) t.line("Object ops", r.opsName);
  artifactText(t, r.artifact);
  return t.str();
}

std::string toText(const PushResult& r) {
  TextBlock t;
  t.line("Pushed", r.source + " -> " + r.reference);
  t.line("Digest", r.digest.toString());
  t.line("Blobs", std::to_string(r.blobsPushed) + " pushed (" + std::to_string(r.bytesPushed) +
                      " bytes), " + std::to_string(r.blobsSkipped) + " already there");
  if (!r.manifests.empty()) t.line("Manifests", std::to_string(r.manifests.size()) + " platforms");
  t.raw(r.pinnedReference + "\n");
  return t.str();
}

std::string toText(const InspectResult& r) {
  const oci::ImageInfo& i = r.info;
  TextBlock t;
  t.line("Reference", i.reference.toString());
  t.line("Digest", i.digest.toString());
  t.line("Media type", i.mediaType);
  t.line("Pinned", i.pinnedReference());
  if (!r.index.empty()) {
    t.raw("Platforms:\n");
    for (const auto& e : r.index) {
      t.raw("  " + (e.platform.os.empty() ? std::string("(none)") : e.platform.toString()) + "  " +
            e.digest.toString() + (e.digest == i.manifestDigest ? "  <- selected" : "") + "\n");
    }
  }
  t.line("Platform", i.platform.toString());
  t.line("Manifest", i.manifestDigest.toString());
  t.line("Config", r.config.digest.toString() + " (" + r.config.mediaType + ")");
  std::int64_t bytes = 0;
  for (const auto& l : i.layers) bytes += l.size;
  t.line("Layers", std::to_string(i.layers.size()) + " (" + std::to_string(bytes) + " bytes)");
  t.map("Labels", r.labels);
  t.map("Annotations", r.annotations);
  artifactText(t, i.artifact);
  if (r.signature == "unchecked") {
    t.line("Signature", "not checked (no --verify-key)");
  } else if (r.signature == "verified") {
    t.line("Signature", "verified");
  } else {
    t.line("Signature", "FAILED: " + r.signatureError);
  }
  return t.str();
}

std::string toText(const oci::PulledImage& r) {
  TextBlock t;
  t.line("Pulled", r.pinnedReference());
  t.line("Manifest", r.manifestDigest.toString());
  t.line("Rootfs", r.rootfs);
  t.line("From cache", r.fromCache ? "yes" : "no");
  t.line("Signature", r.signatureVerified ? "verified" : "not checked");
  artifactText(t, r.artifact);
  return t.str();
}

}  // namespace schedkit::cli
