// updraft: an event-driven autoscaler that runs KEDA's objects.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "commands.h"

namespace {
constexpr const char* kVersion = "0.1.0";
}

int main(int argc, char** argv) {
  CLI::App cli{"updraft: event-driven autoscaling for KEDA's ScaledObjects and ScaledJobs"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", kVersion);

  std::vector<std::string> validateFiles;
  auto* validate = cli.add_subcommand(
      "validate",
      "Check KEDA objects (YAML or JSON, multi-document) and Lua scripts (*.lua); exit 1 if any "
      "is invalid");
  validate->add_option("files", validateFiles, "Files to check, or - for stdin")->required();

  updraft::app::SimulateArgs sim;
  double until = -1;
  auto* simulate = cli.add_subcommand(
      "simulate", "Replay a traffic trace through the scaling logic; CSV on stdout");
  simulate->add_option("object", sim.objectFile, "YAML with the ScaledObject or ScaledJob")
      ->required();
  simulate->add_option("--object", sim.objectName, "Which object, when the file holds several");
  simulate->add_option("--trace", sim.traceFile, "CSV trace: time,<trigger>,...")->required();
  simulate->add_option("--replicas", sim.replicas, "Replicas at t=0")->capture_default_str();
  simulate->add_option("--until", until, "End time in seconds (default: last trace time + 600)");
  simulate->add_option("--hpa-sync", sim.hpaSync, "HPA sync period in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  simulate->add_option("--job-duration", sim.jobDuration, "ScaledJob: seconds each job runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  simulate->add_option("--plot", sim.plotFile, "Write an SVG chart to this file");
  simulate->add_option("--policy", sim.policyFile,
                       "Lua scaling policy file to use instead of the object's own");
  simulate->add_option("--start", sim.start,
                       "Clock at t=0, e.g. 2026-03-02T08:00:00+01:00 or epoch seconds "
                       "(default: 1970-01-01T00:00:00Z)");

  updraft::app::RunArgs run;
  double duration = -1;
  auto* runCmd = cli.add_subcommand(
      "run", "Scale local process pools and jobs with KEDA objects, without Kubernetes");
  runCmd
      ->add_option("files", run.files,
                   "YAML files: ScaledObjects, ScaledJobs, "
                   "TriggerAuthentications, ProcessPools")
      ->required();
  runCmd->add_option("--log-format", run.logFormat, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  runCmd->add_option("--listen", run.listen, "host:port serving /metrics and /healthz");
  runCmd
      ->add_option("--secrets-dir", run.secretsDir,
                   "Directory of secrets: <dir>/<secret>/<key> (else $UPDRAFT_SECRET_<NAME>_<KEY>)")
      ->capture_default_str();
  runCmd->add_option("--hpa-sync", run.hpaSync, "HPA sync period in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  runCmd->add_option("--duration", duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  runCmd->add_option("--plot", run.plotFile,
                     "On exit, write an SVG chart of the metrics and replicas (one file per "
                     "object when there are several: FILE-<name>.svg)");
  runCmd->add_option("--status-every", run.statusEverySeconds, "Status refresh in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  updraft::app::OperatorArgs op;
  auto envOr = [](const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
  };
  op.watchNamespace = envOr("WATCH_NAMESPACE", "");
  op.podNamespace = envOr("POD_NAMESPACE", "updraft");
  op.identity = envOr("POD_NAME", "");
  op.clusterObjectNamespace = envOr("KEDA_CLUSTER_OBJECT_NAMESPACE", "");
  double opDuration = -1;
  bool noControllers = false;
  auto* opCmd = cli.add_subcommand(
      "operator",
      "Run in a cluster: controllers, external metrics API and admission webhooks in one process");
  opCmd->add_option("--kubeconfig", op.kubeconfig,
                    "Kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  opCmd->add_option("--context", op.context, "Kubeconfig context (default: current-context)");
  opCmd->add_option("--namespace", op.watchNamespace,
                    "Watch only this namespace (default: $WATCH_NAMESPACE, all)");
  opCmd->add_option("--pod-namespace", op.podNamespace,
                    "The operator's namespace: Lease, ClusterTriggerAuthentication secrets "
                    "(default: $POD_NAMESPACE or updraft)");
  opCmd->add_option("--cluster-object-namespace", op.clusterObjectNamespace,
                    "Where ClusterTriggerAuthentication secrets are read "
                    "(default: $KEDA_CLUSTER_OBJECT_NAMESPACE, else --pod-namespace)");
  opCmd->add_option("--identity", op.identity,
                    "Leader election identity (default: $POD_NAME, else hostname_pid)");
  opCmd->add_option("--bind-address", op.bindAddress, "Address the servers listen on")
      ->capture_default_str();
  opCmd->add_option("--metrics-port", op.metricsPort, "External metrics API (HTTPS); 0 = off")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  opCmd->add_option("--webhook-port", op.webhookPort, "Admission webhooks (HTTPS); 0 = off")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  opCmd->add_option("--health-port", op.healthPort, "/healthz and /readyz (HTTP); 0 = off")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  opCmd->add_option("--prometheus-port", op.prometheusPort, "Prometheus /metrics (HTTP); 0 = off")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  opCmd->add_flag("--no-controllers", noControllers,
                  "Serve the metrics API and webhooks only (no scaling, no writes)");
  opCmd->add_flag("--leader-elect", op.leaderElect,
                  "Elect a leader through a Lease; only the leader scales and writes");
  opCmd->add_option("--lease-name", op.leaseName, "Lease name")->capture_default_str();
  opCmd->add_option("--lease-duration", op.leaseDuration, "Seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  opCmd->add_option("--renew-deadline", op.renewDeadline, "Seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  opCmd->add_option("--retry-period", op.retryPeriod, "Seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  opCmd->add_option("--kube-api-qps", op.kubeApiQps, "Client-side rate limit (0 = none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  opCmd->add_option("--kube-api-burst", op.kubeApiBurst, "Client-side burst")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  opCmd
      ->add_option("--cert-dir", op.certDir,
                   "Serving certificates: mounted tls.crt/tls.key, else generated here")
      ->capture_default_str();
  opCmd->add_option("--apiservice-name", op.apiServiceName, "APIService whose caBundle is patched")
      ->capture_default_str();
  opCmd
      ->add_option("--webhook-config-name", op.webhookConfigName,
                   "ValidatingWebhookConfiguration whose caBundle is patched")
      ->capture_default_str();
  bool noCaPatching = false;
  opCmd->add_flag("--no-ca-patching", noCaPatching, "Do not patch the caBundles");
  opCmd->add_option("--log-level", op.logLevel, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  opCmd->add_option("--log-format", op.logFormat, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  opCmd->add_option("--duration", opDuration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  if (*validate) return updraft::app::runValidate(validateFiles, std::cout, std::cerr);
  if (*simulate) {
    if (until >= 0) sim.until = until;
    return updraft::app::runSimulate(sim, std::cout, std::cerr);
  }
  if (*runCmd) {
    if (duration > 0) run.duration = duration;
    return updraft::app::runRun(run);
  }
  if (*opCmd) {
    if (opDuration > 0) op.duration = opDuration;
    op.controllers = !noControllers;
    op.patchCaBundles = !noCaPatching;
    return updraft::app::runOperator(op);
  }
  return 2;
}
