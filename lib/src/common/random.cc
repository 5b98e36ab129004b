#include "schedkit/common/random.h"

#include <algorithm>
#include <cmath>

namespace schedkit {

Duration Backoff::peekBase() const {
  double base = static_cast<double>(o_.initial.count()) * std::pow(o_.factor, attempt_);
  double cap = static_cast<double>(o_.max.count());
  return Duration(static_cast<Duration::rep>(std::min(base, cap)));
}

Duration Backoff::next(Random& rnd) {
  Duration base = peekBase();
  if (base < o_.max) ++attempt_;
  double j = std::clamp(o_.jitter, 0.0, 1.0);
  double scale = 1.0 - j * rnd.unit();
  return Duration(static_cast<Duration::rep>(static_cast<double>(base.count()) * scale));
}

}  // namespace schedkit
