#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "schedkit/common/status.h"

namespace schedkit::oci {

// A content digest, "sha256:<64 lowercase hex>". Only sha256 is accepted: it is what every
// registry and the OCI image spec require, and one algorithm keeps cache paths unambiguous.
class Digest {
 public:
  Digest() = default;
  static Result<Digest> parse(std::string_view s);
  static Digest ofHex(std::string hex) { return Digest(std::move(hex)); }  // hex already checked
  // sha256 of `data`.
  static Digest of(std::string_view data);

  bool empty() const { return hex_.empty(); }
  const std::string& hex() const { return hex_; }
  std::string algorithm() const { return "sha256"; }
  std::string toString() const { return hex_.empty() ? std::string() : "sha256:" + hex_; }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

// Streaming sha256 (OpenSSL EVP), for blobs hashed as they arrive.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // Finishes and returns the digest; the hasher may not be used afterwards.
  Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Checks `data` against `want`: kDataLoss "digest mismatch: want ..., got ..." when it differs.
Status verifyDigest(std::string_view what, const Digest& want, const Digest& got);

}  // namespace schedkit::oci
