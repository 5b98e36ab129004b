#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci {

// cosign's keyed convention: the signature of image digest sha256:<hex> is an OCI manifest at tag
// "sha256-<hex>.sig" in the same repository; each layer is a simple-signing JSON payload whose
// "dev.cosignproject.cosign/signature" annotation is a base64 ECDSA signature over the payload.
inline constexpr std::string_view kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kCosignPayloadType = "cosign container image signature";
inline constexpr std::int64_t kMaxSignaturePayloadBytes = 1 << 20;

std::string cosignSignatureTag(const Digest& image);

// An ECDSA P-256 public key (PEM "PUBLIC KEY", as `cosign generate-key-pair` writes).
class PublicKey {
 public:
  static Result<PublicKey> fromPem(std::string_view pem);
  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  ~PublicKey();
  // sha256 of the DER SubjectPublicKeyInfo, hex: names the key in records and logs.
  const std::string& fingerprint() const { return fingerprint_; }
  // Checks a DER ECDSA signature over sha256(data).
  bool verify(std::string_view data, std::string_view derSignature) const;

 private:
  PublicKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string fingerprint_;
};

struct SimpleSigningPayload {
  std::string type;             // critical.type
  Digest manifestDigest;        // critical.image.docker-manifest-digest
  std::string dockerReference;  // critical.identity.docker-reference
};
Result<SimpleSigningPayload> parseSimpleSigningPayload(std::string_view json);

// Verifies one cosign signature layer: the signature (base64 DER) over `payload` with `key`, the
// payload's type, and that it signs `image`. kPermissionDenied with the reason otherwise.
Status verifyCosignSignature(std::string_view payload, std::string_view signatureBase64,
                             const PublicKey& key, const Digest& image);

}  // namespace schedkit::oci
