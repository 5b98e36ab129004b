#pragma once

// Makes cosign-style keyed signatures for unit tests (OpenSSL, ECDSA P-256 over SHA-256). The
// integration tests use the real cosign CLI instead.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

#include "schedkit/oci/credentials.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci::testing {

class TestSigner {
 public:
  TestSigner() : key_(EVP_EC_gen("P-256"), EVP_PKEY_free) {}

  std::string publicPem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, key_.get());
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    std::string out(p, static_cast<std::size_t>(n));
    BIO_free(b);
    return out;
  }

  // base64 DER ECDSA signature of data.
  std::string sign(std::string_view data) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get());
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                   data.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return base64Encode(sig);
  }

  static std::string payload(const Digest& image, const std::string& ref = "reg.test/img") {
    return "{\"critical\":{\"identity\":{\"docker-reference\":\"" + ref +
           "\"},\"image\":{\"docker-manifest-digest\":\"" + image.toString() +
           "\"},\"type\":\"cosign container image signature\"},\"optional\":null}";
  }

 private:
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key_;
};

}  // namespace schedkit::oci::testing
