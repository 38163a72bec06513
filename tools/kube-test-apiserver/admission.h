// Validating admission webhooks: ValidatingWebhookConfiguration rules are matched against each
// write and an admission.k8s.io/v1 AdmissionReview is POSTed to clientConfig.url (trusting
// clientConfig.caBundle). Denials and call failures (with failurePolicy Fail) become ApiErrors.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "resources.h"

namespace updraft::kubetest {

struct Caller {
  std::string user = "system:anonymous";
  std::vector<std::string> groups;
};

struct AdmissionRequest {
  std::string operation;  // CREATE, UPDATE, DELETE
  const ResourceType* rt = nullptr;
  std::string sub;
  std::string ns;
  std::string name;
  json object;     // null on DELETE
  json oldObject;  // null on CREATE
  bool dryRun = false;
  Caller caller;
};

// Runs every matching webhook of `configs` (ValidatingWebhookConfiguration objects) in order.
// Returns the warnings the webhooks gave; throws ApiError when one denies the request or cannot
// be called and its failurePolicy is Fail. `namespaceLabels` are the labels of the request's
// namespace (for namespaceSelector).
std::vector<std::string> runValidatingWebhooks(const AdmissionRequest& request,
                                               const std::vector<json>& configs,
                                               const json& namespaceLabels);

}  // namespace updraft::kubetest
