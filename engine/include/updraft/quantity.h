// Kubernetes resource quantities ("500m", "1.5Gi", "2e3", "100"), as k8s.io/apimachinery's
// resource.ParseQuantity accepts them, converted to a double (Quantity.AsApproximateFloat64).
#pragma once

#include <string_view>

#include "updraft/status.h"

namespace updraft {

// <sign>?<digits>[.<digits>]<suffix>, at least one digit; suffix is one of
//   "" | n u m k M G T P E (decimal SI) | Ki Mi Gi Ti Pi Ei (binary SI) | e<int> E<int> (exponent).
// Surrounding whitespace is not accepted. Error: InvalidArgument
// "\"12Q\" is not a valid quantity (e.g. 500m, 1.5, 256Mi, 2G)".
Result<double> parseQuantity(std::string_view s);

}  // namespace updraft
