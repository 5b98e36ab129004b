// Fuzzes the kobject uevent parser with arbitrary netlink datagrams.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "host/sched_ext.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto ev = schedkit::agent::parseUevent(std::string_view(reinterpret_cast<const char*>(data), size));
  if (ev.isOk()) (void)schedkit::agent::toSchedExtUevent(*ev);
  return 0;
}
