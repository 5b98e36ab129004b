#include "schedkit/oci/signature.h"

#include <gtest/gtest.h>

#include "fakes/oci_signing.h"

namespace schedkit::oci {
namespace {

using testing::TestSigner;

TEST(CosignSignature, VerifiesAndRefusesWithReasons) {
  TestSigner signer, other;
  Digest image = Digest::of("manifest");
  std::string payload = TestSigner::payload(image);
  std::string sig = signer.sign(payload);
  auto key = PublicKey::fromPem(signer.publicPem());
  ASSERT_TRUE(key.isOk()) << key.status().toString();
  EXPECT_EQ(key->fingerprint().size(), 64u);
  EXPECT_TRUE(verifyCosignSignature(payload, sig, *key, image).isOk());

  auto wrongKey = PublicKey::fromPem(other.publicPem());
  auto st = verifyCosignSignature(payload, sig, *wrongKey, image);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("does not verify"), std::string::npos);

  std::string tampered = payload;
  tampered.replace(tampered.find("reg.test"), 3, "bad");
  EXPECT_NE(verifyCosignSignature(tampered, sig, *key, image).message().find("does not verify"),
            std::string::npos);

  Digest otherImage = Digest::of("other");
  std::string forOther = TestSigner::payload(otherImage);
  st = verifyCosignSignature(forOther, signer.sign(forOther), *key, image);
  EXPECT_NE(st.message().find("signature is for " + otherImage.toString()), std::string::npos);

  std::string wrongType = "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" +
                          image.toString() + "\"},\"type\":\"something else\"}}";
  EXPECT_NE(verifyCosignSignature(wrongType, signer.sign(wrongType), *key, image)
                .message()
                .find("payload type"),
            std::string::npos);
  EXPECT_FALSE(verifyCosignSignature(payload, "!!!", *key, image).isOk());
}

TEST(CosignSignature, KeyParsing) {
  EXPECT_EQ(PublicKey::fromPem("not pem").status().code(), StatusCode::kInvalidArgument);
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, rsa);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string pem(p, static_cast<std::size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(rsa);
  EXPECT_NE(PublicKey::fromPem(pem).status().message().find("not an ECDSA key"), std::string::npos);
  EXPECT_EQ(cosignSignatureTag(Digest::of("")),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig");
}

}  // namespace
}  // namespace schedkit::oci
