// Fuzzes the policy file parser: whatever the bytes, parsePolicies returns a value or an error,
// and a value survives encode → decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto ps = schedkit::policy::parsePolicies(in);
  if (!ps.isOk()) return 0;
  for (const auto& p : *ps) {
    auto back = schedkit::policy::decodePolicy(schedkit::policy::encodePolicy(p));
    if (!back.isOk() || !(*back == p)) std::abort();
  }
  return 0;
}
