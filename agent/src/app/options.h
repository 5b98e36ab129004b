#pragma once

#include <string>
#include <vector>

#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

struct AgentOptions {
  std::string policyFile;        // standalone mode: a file or a directory
  std::string kubeconfig;        // cluster mode: a kubeconfig (default: in-cluster or $KUBECONFIG)
  std::string kubeContext;
  std::string ns;                // cluster mode: where image pull secrets and keys live
  std::string nodeName;
  std::string nodeLabels;        // "k=v,k2=v2"
  std::string stateDir = "/var/lib/schedkit";
  std::string hostRoot = "/";
  bool detachOnExit = false;
  std::string crunPath = "crun";
  LogFormat logFormat = LogFormat::kText;
  LogLevel logLevel = LogLevel::kInfo;
  int exitReasonGraceMs = 300;
  // Images.
  std::string imageCache;                      // default STATE_DIR/images
  std::vector<std::string> insecureRegistries;  // hosts allowed over plain HTTP
  std::vector<std::string> registryCas;         // HOST=CA_FILE
  std::string secretsDir;                      // standalone: DIR/<secret>/<key>
  std::string metricsAddress = "0.0.0.0:9477";  // Prometheus /metrics; "" turns it off
  std::string healthAddress = "127.0.0.1:9479";  // /livez, /readyz for the kubelet; "" turns it off
  // The running scheduler's scx_stats socket (a host path), read at scrape time; "" turns it off.
  std::string scxStatsSocket = "/run/scx/root/stats";
  Duration scxStatsTimeout = std::chrono::seconds(1);
  // The gRPC API (schedkitctl node ...) on a root-only unix socket; "" turns it off.
  std::string grpcSocket = "/run/schedkit/agent.sock";
};

// Parses argv. Returns the options, or a Status whose message is what to print: for --help and
// --version the code is kCancelled (print to stdout, exit 0); otherwise an error (exit 2).
Result<AgentOptions> parseAgentOptions(int argc, char** argv);

}  // namespace schedkit::agent
