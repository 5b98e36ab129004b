#include "schedkit/oci/digest.h"

#include <openssl/evp.h>

namespace schedkit::oci {

namespace {

bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string toHex(const unsigned char* p, unsigned n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

}  // namespace

Result<Digest> Digest::parse(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    return invalidArgument("digest \"" + std::string(s) + "\" has no algorithm");
  }
  std::string_view alg = s.substr(0, colon), hex = s.substr(colon + 1);
  if (alg != "sha256") {
    return invalidArgument("digest \"" + std::string(s) + "\": algorithm " + std::string(alg) +
                           " is not supported (only sha256)");
  }
  if (hex.size() != 64 || !isLowerHex(hex)) {
    return invalidArgument("digest \"" + std::string(s) +
                           "\": sha256 wants 64 lowercase hex characters");
  }
  return Digest(std::string(hex));
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(std::string_view data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_->md, md, &len);
  return Digest::ofHex(toHex(md, len));
}

Digest Digest::of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

Status verifyDigest(std::string_view what, const Digest& want, const Digest& got) {
  if (want == got) return Status::ok();
  return dataLoss(std::string(what) + ": digest mismatch: want " + want.toString() + ", got " +
                  got.toString());
}

}  // namespace schedkit::oci
