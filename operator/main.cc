// schedkit-operator: parses options and hands over to the operator library.
#include <cstdio>

#include "runtime/operator_app.h"
#include "runtime/options.h"

int main(int argc, char** argv) {
  auto opts = schedkit::op::parseOperatorOptions(argc, argv);
  if (!opts.isOk()) {
    bool info = opts.status().code() == schedkit::StatusCode::kCancelled;
    std::fputs(opts.status().message().c_str(), info ? stdout : stderr);
    return info ? 0 : 2;
  }
  return schedkit::op::runOperator(*opts);
}
