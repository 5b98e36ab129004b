#pragma once

#include <string>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"

namespace schedkit::op {

struct OperatorOptions {
  std::string kubeconfig;  // default: in-cluster, else $KUBECONFIG
  std::string kubeContext;
  std::string ns;          // its Lease and the image pull Secrets (default: in-cluster, else "schedkit-system")
  bool leaderElect = true;
  std::string leaseName = "schedkit-operator";
  Duration leaseDuration = std::chrono::seconds(15);
  Duration renewDeadline = std::chrono::seconds(10);
  Duration retryPeriod = std::chrono::seconds(2);
  std::string identity;    // default: $POD_NAME, else the hostname
  bool manageNodeLabels = true;
  bool pinImages = true;   // resolve tags to digests (status.resolvedImage)
  std::string metricsAddress = "0.0.0.0:9478";  // "" turns it off
  std::vector<std::string> insecureRegistries;
  std::vector<std::string> registryCas;  // HOST=CA_FILE
  double qps = 50;                       // API requests per second (status, labels, events)
  int burst = 100;
  LogFormat logFormat = LogFormat::kText;
  LogLevel logLevel = LogLevel::kInfo;
};

// Parses argv. For --help and --version the Status is kCancelled with the text to print (exit 0);
// otherwise an error to print (exit 2).
Result<OperatorOptions> parseOperatorOptions(int argc, char** argv);

}  // namespace schedkit::op
