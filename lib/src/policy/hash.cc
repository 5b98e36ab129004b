#include <openssl/evp.h>

#include <algorithm>

#include "schedkit/policy/resolve.h"

namespace schedkit::policy {

namespace {

std::string sha256(std::string_view data, unsigned char (&md)[EVP_MAX_MD_SIZE]) {
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

// Length-prefixed fields make the encoding unambiguous ("a","bc" != "ab","c").
void field(std::string& out, std::string_view tag, std::string_view v) {
  out += tag;
  out += ':';
  out += std::to_string(v.size());
  out += ':';
  out += v;
  out += ';';
}

}  // namespace

std::string revisionOf(const SchedulerPolicySpec& spec) {
  std::string canon = "schedkit-revision-v1;";
  const auto& s = spec.scheduler;
  field(canon, "image", s.image);
  field(canon, "hostPath", s.hostPath);
  field(canon, "type", toString(s.effectiveType()));
  field(canon, "nargs", std::to_string(s.args.size()));
  for (const auto& a : s.args) field(canon, "arg", a);
  auto env = s.env;  // env is a map keyed by name: order does not change what runs
  std::sort(env.begin(), env.end(), [](const EnvVar& a, const EnvVar& b) { return a.name < b.name; });
  field(canon, "nenv", std::to_string(env.size()));
  for (const auto& e : env) {
    field(canon, "env.name", e.name);
    field(canon, "env.value", e.value);
  }
  field(canon, "mode", toString(spec.mode));
  unsigned char md[EVP_MAX_MD_SIZE];
  std::string digest = sha256(canon, md);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 8; ++i) {
    auto b = static_cast<unsigned char>(digest[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::uint32_t nodeBucket(std::string_view nodeName, std::string_view policyUid) {
  std::string key(policyUid);
  key += '/';
  key += nodeName;
  unsigned char md[EVP_MAX_MD_SIZE];
  std::string digest = sha256(key, md);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(digest[i]);
  return static_cast<std::uint32_t>(v % kBucketCount);
}

}  // namespace schedkit::policy
