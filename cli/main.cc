// schedkitctl: wires the real transport, BPF object reader and environment into the CLI library.
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "app/cli.h"
#include "attach/bpf_object_attacher.h"
#include "schedkit/net/http.h"

int main(int argc, char** argv) {
  schedkit::RealClock clock;
  schedkit::RealRandom random;
  schedkit::cli::CliDeps deps{
      [](const schedkit::net::TlsConfig& t) { return schedkit::net::makeCpprestTransport(t); },
      [](const std::string& path) { return schedkit::agent::readObjectOpsName(path); },
      {[](const std::string& name) {
         const char* v = std::getenv(name.c_str());
         return std::string(v ? v : "");
       },
       [] { return std::string(std::istreambuf_iterator<char>(std::cin), {}); }},
      clock,
      random};
  std::vector<std::string> args(argv, argv + argc);
  return schedkit::cli::runCli(args, std::cout, std::cerr, deps);
}
