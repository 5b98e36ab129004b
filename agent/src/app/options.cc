#include "app/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "schedkit/common/duration.h"

namespace schedkit::agent {

Result<AgentOptions> parseAgentOptions(int argc, char** argv) {
  AgentOptions o;
  CLI::App app{
      "schedkit-agent: runs the sched_ext scheduler that SchedulerPolicies choose for this node,\n"
      "watches the kernel for ejections, falls back to the default scheduler after repeated\n"
      "failures, and reports the node's state.\n\n"
      "Cluster mode (default): watches SchedulerPolicies and this node's Node through the API\n"
      "server (in-cluster service account, --kubeconfig or $KUBECONFIG) and writes this node's\n"
      "SchedulerNodeState and Events.\n"
      "Standalone mode (no Kubernetes): --policy-file FILE|DIR; SIGHUP re-reads the files.\n"
      "Both write the node state as JSON to STATE_DIR/node-state.json on every change. On SIGTERM\n"
      "the agent exits and leaves the scheduler attached (a restarted agent re-adopts it);\n"
      "--detach-on-exit detaches it first.",
      "schedkit-agent"};
  app.get_formatter()->column_width(34);
  std::string logFormat = "text", logLevel = "info", scxStatsTimeout = "1s";
  if (const char* n = std::getenv("NODE_NAME")) o.nodeName = n;
  app.add_option("--policy-file", o.policyFile,
                 "SchedulerPolicy YAML/JSON file, or a directory of them (standalone mode)");
  app.add_option("--kubeconfig", o.kubeconfig,
                 "Cluster mode: kubeconfig to use (default: in-cluster, else $KUBECONFIG)");
  app.add_option("--context", o.kubeContext, "Cluster mode: kubeconfig context (default: current)");
  app.add_option("--namespace", o.ns,
                 "Cluster mode: namespace of image pull secrets and verification keys (default: "
                 "the service account's, else from the kubeconfig)");
  app.add_option("--node-name", o.nodeName, "This node's name (default: $NODE_NAME, else hostname)");
  app.add_option("--node-labels", o.nodeLabels,
                 "This node's labels for nodeSelector matching, e.g. schedkit.io/pool=latency,zone=a");
  app.add_option("--state-dir", o.stateDir, "Where the agent keeps its state")->capture_default_str();
  app.add_option("--host-root", o.hostRoot,
                 "Where the host's / is mounted (/sys, /proc, /dev/kmsg are read under it)")
      ->capture_default_str();
  app.add_flag("--detach-on-exit", o.detachOnExit,
               "Detach the scheduler on SIGTERM instead of leaving it running");
  app.add_option("--crun", o.crunPath, "OCI runtime used to run binary schedulers")->capture_default_str();
  app.add_option("--log-format", logFormat, "text or json")->capture_default_str();
  app.add_option("--log-level", logLevel, "debug, info, warn or error")->capture_default_str();
  app.add_option("--exit-reason-grace-ms", o.exitReasonGraceMs,
                 "How long to wait for the kernel's exit reason after a scheduler is seen gone")
      ->capture_default_str();
  app.add_option("--image-cache", o.imageCache,
                 "Where pulled images are kept (default: STATE_DIR/images)");
  app.add_option("--insecure-registry", o.insecureRegistries,
                 "A registry host[:port] that may be reached over plain HTTP (repeatable; loopback "
                 "registries always may)");
  app.add_option("--registry-ca", o.registryCas,
                 "HOST[:PORT]=FILE: a CA bundle to trust for that registry (repeatable)");
  app.add_option("--secrets-dir", o.secretsDir,
                 "Standalone: image pull secrets and verification keys as DIR/<secret>/<key> files");
  app.add_option("--metrics-address", o.metricsAddress,
                 "Serve Prometheus metrics on HOST:PORT/metrics (empty: off)")
      ->capture_default_str();
  app.add_option("--health-address", o.healthAddress,
                 "Serve the probes' /livez (the node loop runs) and /readyz (and the policies are "
                 "known) on HOST:PORT (empty: off). Loopback by default: the kubelet probes a "
                 "hostNetwork pod from the host's network (httpGet host: 127.0.0.1)")
      ->capture_default_str();
  app.add_option("--scx-stats-socket", o.scxStatsSocket,
                 "Where scx schedulers (scx_lavd, scx_rusty, ...) serve scx_stats, a host path; "
                 "at scrape time the running scheduler's stats become schedkit_scx_* metrics "
                 "(empty: off)")
      ->capture_default_str();
  app.add_option("--scx-stats-timeout", scxStatsTimeout,
                 "How long one scx_stats request may take (connect, send, read), e.g. 500ms")
      ->capture_default_str();
  app.add_option("--grpc-socket", o.grpcSocket,
                 "Serve the gRPC API (schedkitctl node status|events|attach|detach) on this unix "
                 "socket, mode 0600 (root only); empty: off")
      ->capture_default_str();
  app.set_version_flag("--version", "schedkit-agent 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return cancelled(app.help());
  } catch (const CLI::CallForVersion& e) {
    return cancelled(std::string(e.what()) + "\n");
  } catch (const CLI::ParseError& e) {
    return invalidArgument(std::string(e.what()) + "\nRun with --help for usage.\n");
  }
  auto lf = parseLogFormat(logFormat);
  if (!lf.isOk()) return invalidArgument("--log-format: " + lf.status().message() + "\n");
  o.logFormat = *lf;
  auto ll = parseLogLevel(logLevel);
  if (!ll.isOk()) return invalidArgument("--log-level: " + ll.status().message() + "\n");
  o.logLevel = *ll;
  auto st = parseDuration(scxStatsTimeout);
  if (!st.isOk()) return invalidArgument("--scx-stats-timeout: " + st.status().message() + "\n");
  if (*st <= Duration::zero() || *st > std::chrono::seconds(30)) {
    return invalidArgument("--scx-stats-timeout must be more than 0 and at most 30s\n");
  }
  o.scxStatsTimeout = *st;
  if (o.nodeName.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) o.nodeName = host;
  }
  if (o.nodeName.empty()) return invalidArgument("--node-name is required (no hostname)\n");
  if (!o.policyFile.empty() && !o.kubeconfig.empty()) {
    return invalidArgument("--policy-file (standalone) and --kubeconfig (cluster) exclude each other\n");
  }
  if (!o.grpcSocket.empty() && o.grpcSocket[0] != '/') {
    return invalidArgument("--grpc-socket must be an absolute path\n");
  }
  if (o.imageCache.empty()) o.imageCache = o.stateDir + "/images";
  for (const auto& rc : o.registryCas) {
    if (rc.find('=') == std::string::npos) {
      return invalidArgument("--registry-ca wants HOST=FILE, not \"" + rc + "\"\n");
    }
  }
  if (o.exitReasonGraceMs < 0 || o.exitReasonGraceMs > 60000) {
    return invalidArgument("--exit-reason-grace-ms must be between 0 and 60000\n");
  }
  return o;
}

}  // namespace schedkit::agent
