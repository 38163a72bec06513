// The three PATCH body formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
// Kubernetes' strategic merge patch for built-in types.
#pragma once

#include <string>

#include "common.h"

namespace updraft::kubetest {

enum class PatchType { Merge, Json, Strategic, Apply };

// From a Content-Type header (parameters ignored); throws ApiError 415 for anything else.
PatchType patchTypeFromContentType(const std::string& contentType);

json applyMergePatch(const json& target, const json& patch);
// Throws ApiError: 400 when the patch is not a list of operations, 422 when an operation fails
// (a failed "test", a missing path), as the API server does.
json applyJsonPatch(const json& target, const json& patch);
// Lists are merged by the merge keys of the built-in types (containers/env/volumes by name,
// container ports by containerPort, service ports by port, conditions by type, ownerReferences by
// uid, finalizers as a set); directives $patch (replace/delete/merge), $retainKeys,
// $deleteFromPrimitiveList/<field> and $setElementOrder/<field> are honoured.
// `resource` is the plural resource name ("services" decides what spec.ports merges by).
json applyStrategicMergePatch(const json& target, const json& patch, const std::string& resource);

}  // namespace updraft::kubetest
