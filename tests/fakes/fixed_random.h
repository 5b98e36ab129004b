#pragma once

#include "schedkit/common/random.h"

namespace schedkit {

// Returns the same value every time, so jitter is deterministic in tests.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::uint64_t v) : v_(v) {}
  std::uint64_t next() override { return v_; }
  void set(std::uint64_t v) { v_ = v; }

 private:
  std::uint64_t v_;
};

}  // namespace schedkit
