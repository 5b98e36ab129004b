#include "runtime/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "schedkit/common/duration.h"

namespace schedkit::op {

Result<OperatorOptions> parseOperatorOptions(int argc, char** argv) {
  OperatorOptions o;
  CLI::App app{
      "schedkit-operator: rolls SchedulerNodeStates up into each SchedulerPolicy's status (node\n"
      "counts, conditions Ready/Progressing/Degraded and kstatus' Reconciling/Stalled, recent\n"
      "fallbacks), rolls new revisions out (Immediate with maxUnavailable, Canary with an exact\n"
      "node count and bake time, halting and rolling back on fallbacks), pins image tags to\n"
      "digests (status.resolvedImage) and labels nodes with the scheduler they run\n"
      "(schedkit.io/scheduler, schedkit.io/scheduler-ready).\n\n"
      "One replica is active at a time (a coordination.k8s.io Lease); the others wait with warm\n"
      "caches. Agents keep running what they run while no operator is active.",
      "schedkit-operator"};
  app.get_formatter()->column_width(34);
  std::string logFormat = "text", logLevel = "info";
  std::string leaseDuration = "15s", renewDeadline = "10s", retryPeriod = "2s";
  if (const char* n = std::getenv("POD_NAME")) o.identity = n;
  app.add_option("--kubeconfig", o.kubeconfig, "kubeconfig to use (default: in-cluster, else $KUBECONFIG)");
  app.add_option("--context", o.kubeContext, "kubeconfig context (default: current)");
  app.add_option("--namespace", o.ns,
                 "Namespace of the Lease and of image pull secrets (default: the service "
                 "account's, else from the kubeconfig, else schedkit-system)");
  app.add_option("--leader-elect", o.leaderElect, "Hold a Lease so only one replica acts")
      ->capture_default_str();
  app.add_option("--lease-name", o.leaseName, "Name of the Lease")->capture_default_str();
  app.add_option("--lease-duration", leaseDuration,
                 "How long a standby waits after the last renewal before it takes over")
      ->capture_default_str();
  app.add_option("--renew-deadline", renewDeadline,
                 "How long the leader keeps trying to renew before it stops acting")
      ->capture_default_str();
  app.add_option("--retry-period", retryPeriod, "How often to try to acquire or renew")
      ->capture_default_str();
  app.add_option("--identity", o.identity, "Who holds the Lease (default: $POD_NAME, else hostname)");
  app.add_option("--manage-node-labels", o.manageNodeLabels,
                 "Label nodes with schedkit.io/scheduler and schedkit.io/scheduler-ready")
      ->capture_default_str();
  app.add_option("--pin-images", o.pinImages,
                 "Resolve image tags to digests once, so every node runs the same bits")
      ->capture_default_str();
  app.add_option("--metrics-address", o.metricsAddress,
                 "Serve Prometheus metrics on HOST:PORT/metrics (empty: off)")
      ->capture_default_str();
  app.add_option("--insecure-registry", o.insecureRegistries,
                 "A registry host[:port] that may be reached over plain HTTP (repeatable; loopback "
                 "registries always may)");
  app.add_option("--registry-ca", o.registryCas,
                 "HOST[:PORT]=FILE: a CA bundle to trust for that registry (repeatable)");
  app.add_option("--kube-api-qps", o.qps, "Requests per second to the API server")->capture_default_str();
  app.add_option("--kube-api-burst", o.burst, "Burst above --kube-api-qps")->capture_default_str();
  app.add_option("--log-format", logFormat, "text or json")->capture_default_str();
  app.add_option("--log-level", logLevel, "debug, info, warn or error")->capture_default_str();
  app.set_version_flag("--version", "schedkit-operator 0.1.0");
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
  for (auto [flag, text, out] : {std::tuple{"--lease-duration", &leaseDuration, &o.leaseDuration},
                                 std::tuple{"--renew-deadline", &renewDeadline, &o.renewDeadline},
                                 std::tuple{"--retry-period", &retryPeriod, &o.retryPeriod}}) {
    auto d = parseDuration(*text);
    if (!d.isOk() || *d <= Duration::zero()) {
      return invalidArgument(std::string(flag) + ": want a positive duration like 15s, not \"" +
                             *text + "\"\n");
    }
    *out = *d;
  }
  if (!(o.renewDeadline < o.leaseDuration)) {
    return invalidArgument("--renew-deadline must be shorter than --lease-duration\n");
  }
  if (!(o.retryPeriod < o.renewDeadline)) {
    return invalidArgument("--retry-period must be shorter than --renew-deadline\n");
  }
  if (o.identity.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) o.identity = host;
    o.identity += "-" + std::to_string(::getpid());
  }
  for (const auto& rc : o.registryCas) {
    if (rc.find('=') == std::string::npos) {
      return invalidArgument("--registry-ca wants HOST=FILE, not \"" + rc + "\"\n");
    }
  }
  if (o.qps <= 0 || o.burst < 1) return invalidArgument("--kube-api-qps and --kube-api-burst must be positive\n");
  return o;
}

}  // namespace schedkit::op
