#pragma once

#include <string>
#include <string_view>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit {

// Parses a Go/metav1.Duration string: a sequence of decimal numbers with units
// ns, us (µs), ms, s, m, h, e.g. "300ms", "1h30m", "2.5s". A bare "0" is allowed.
// Negative durations are rejected (no schedkit field wants one).
Result<Duration> parseDuration(std::string_view s);

// Formats like Go's time.Duration.String(): "1h30m0s", "5s", "250ms", "0s".
std::string formatDuration(Duration d);

}  // namespace schedkit
