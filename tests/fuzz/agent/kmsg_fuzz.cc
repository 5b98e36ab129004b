// Fuzzes the /dev/kmsg record parser and the sched_ext line classifier: each input is split into
// records at newlines and fed in order, as the agent reads them; also the sysfs value parsers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "host/sched_ext.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  schedkit::agent::SchedExtLogParser parser;
  while (!in.empty()) {
    std::size_t nl = in.find('\n');
    std::string_view rec = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    auto r = schedkit::agent::parseKmsgRecord(rec);
    if (r.isOk()) (void)parser.feed(*r);
    (void)schedkit::agent::parseEvents(rec);
    (void)schedkit::agent::parseCounter(rec);
    (void)schedkit::agent::parseEnableState(rec);
    (void)schedkit::agent::compareKernelRelease(rec, "6.12");
  }
  return 0;
}
