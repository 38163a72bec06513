// Entry points of the `updraft` subcommands. Each returns the process exit code.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace updraft::app {

// `updraft validate FILE... | -`: 0 when every document is valid, 1 otherwise ("-" = stdin).
int runValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

struct SimulateArgs {
  std::string objectFile;
  std::string objectName;  // when the file holds several objects
  std::string traceFile;
  int replicas = 0;
  std::optional<double> until;
  double hpaSync = 15;
  double jobDuration = 60;
  std::string plotFile;
  std::string policyFile;  // overrides the object's scaling policy annotations
  std::string start;       // the clock at t=0: RFC 3339 time or epoch seconds; "" = the epoch
};
// `updraft simulate`: CSV on `out`, diagnostics on `err`.
int runSimulate(const SimulateArgs& args, std::ostream& out, std::ostream& err);

struct RunArgs {
  std::vector<std::string> files;
  std::string logFormat = "text";  // text | json
  std::string listen;              // host:port for /metrics and /healthz; empty = off
  std::string secretsDir = "secrets";
  double hpaSync = 15;
  std::optional<double> duration;  // stop after this many seconds
  int statusEverySeconds = 1;
  std::string plotFile;  // on exit, an SVG of each trigger's value and the replicas over time
};
// `updraft run`: runs until Ctrl-C / SIGTERM (or --duration).
int runRun(const RunArgs& args);

struct OperatorArgs {
  std::string kubeconfig;  // "" = $KUBECONFIG, in-cluster, ~/.kube/config
  std::string context;
  std::string watchNamespace;  // "" = all (WATCH_NAMESPACE)
  std::string podNamespace;    // the operator's namespace (POD_NAMESPACE): Lease, CTA secrets
  std::string identity;        // leader election identity (POD_NAME)
  std::string clusterObjectNamespace;  // KEDA_CLUSTER_OBJECT_NAMESPACE; "" = podNamespace
  std::string bindAddress = "0.0.0.0";
  int metricsPort = 6443;     // external metrics API (HTTPS); 0 = role off
  int webhookPort = 9443;     // admission webhooks (HTTPS); 0 = role off
  int healthPort = 8081;      // /healthz /readyz (HTTP); 0 = off
  int prometheusPort = 8080;  // /metrics (HTTP); 0 = off
  bool controllers = true;    // false: serve metrics/webhooks only (--no-controllers)
  bool leaderElect = false;
  std::string leaseName = "updraft-operator";
  double leaseDuration = 15, renewDeadline = 10, retryPeriod = 2;
  double kubeApiQps = 20;
  int kubeApiBurst = 30;
  std::string certDir = "/certs";
  std::string apiServiceName = "v1beta1.external.metrics.k8s.io";
  std::string webhookConfigName = "updraft-admission";
  bool patchCaBundles = true;
  std::string logLevel = "info";
  std::string logFormat = "text";
  std::optional<double> duration;  // stop after this many seconds (tests)
};
// `updraft operator`: runs until SIGTERM / SIGINT.
int runOperator(const OperatorArgs& args);

}  // namespace updraft::app
