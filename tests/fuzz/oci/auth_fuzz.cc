// References, WWW-Authenticate challenges, token responses, Docker configs and cosign payloads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schedkit/oci/auth.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/reference.h"
#include "schedkit/oci/signature.h"

using namespace schedkit::oci;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto r = parseReference(s);
  if (r.isOk()) {
    // A normalised reference parses back to itself.
    auto again = parseReference(r->toString());
    if (!again.isOk() || !(*again == *r)) __builtin_trap();
    (void)r->apiHost();
    (void)isLoopbackHost(r->registry);
  }
  for (const auto& c : parseWwwAuthenticate(s)) (void)c.param("realm");
  (void)parseTokenResponse(s);
  Keychain k;
  if (k.addDockerConfigJson(s).isOk()) (void)k.lookup("docker.io", "library/ubuntu");
  auto dec = base64Decode(s);
  if (dec.isOk() && base64Decode(base64Encode(*dec)).value() != *dec) __builtin_trap();
  (void)parseSimpleSigningPayload(s);
  return 0;
}
