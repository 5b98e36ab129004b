#include "schedkit/oci/signature.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "schedkit/oci/credentials.h"

namespace schedkit::oci {

std::string cosignSignatureTag(const Digest& image) { return "sha256-" + image.hex() + ".sig"; }

struct PublicKey::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::~PublicKey() = default;

Result<PublicKey> PublicKey::fromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return internalError("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr)
    return invalidArgument("verify key is not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
  PublicKey out;
  out.impl_ = std::make_unique<Impl>();
  out.impl_->key = k;
  if (EVP_PKEY_base_id(k) != EVP_PKEY_EC) {
    return invalidArgument("verify key is not an ECDSA key (cosign keys are ECDSA P-256)");
  }
  char curve[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof curve, &len) != 1 ||
      std::string_view(curve, len) != "prime256v1") {
    return invalidArgument("verify key is not on curve P-256 (got " + std::string(curve, len) +
                           ")");
  }
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k, &der);
  if (n <= 0) return internalError("encoding the public key failed");
  out.fingerprint_ =
      Digest::of(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(n))).hex();
  OPENSSL_free(der);
  return out;
}

bool PublicKey::verify(std::string_view data, std::string_view sig) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, impl_->key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<SimpleSigningPayload> parseSimpleSigningPayload(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalidArgument("signature payload is not a JSON object");
  try {
    SimpleSigningPayload p;
    const auto& crit = j.at("critical");
    p.type = crit.at("type").get<std::string>();
    SK_ASSIGN_OR_RETURN(
        p.manifestDigest,
        Digest::parse(crit.at("image").at("docker-manifest-digest").get<std::string>()));
    if (auto id = crit.find("identity"); id != crit.end() && id->is_object()) {
      p.dockerReference = id->value("docker-reference", "");
    }
    return p;
  } catch (const nlohmann::json::exception& e) {
    return invalidArgument(std::string("signature payload: ") + e.what());
  }
}

Status verifyCosignSignature(std::string_view payload, std::string_view signatureBase64,
                             const PublicKey& key, const Digest& image) {
  auto sig = base64Decode(signatureBase64);
  if (!sig.isOk() || sig->empty()) return permissionDenied("signature annotation is not base64");
  if (!key.verify(payload, *sig)) {
    return permissionDenied(
        "signature does not verify with the given key (wrong key or tampered payload)");
  }
  auto p = parseSimpleSigningPayload(payload);
  if (!p.isOk()) return permissionDenied(p.status().message());
  if (p->type != kCosignPayloadType) {
    return permissionDenied("signature payload type is \"" + p->type + "\", not \"" +
                            std::string(kCosignPayloadType) + "\"");
  }
  if (p->manifestDigest != image) {
    return permissionDenied("signature is for " + p->manifestDigest.toString() + ", not for " +
                            image.toString());
  }
  return Status::ok();
}

}  // namespace schedkit::oci
