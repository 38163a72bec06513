// The wire side of the `prometheus` trigger (keda-scalers.md §2.3): building the instant-query URL
// and reading the answer exactly as KEDA's prometheus_scaler.go does.
//
// Request: GET <serverAddress>/api/v1/query?query=<QueryEscape(query)>&time=<now, RFC3339 UTC>
//          [&namespace=<namespace>][&<QueryEscape(k)>=<QueryEscape(v)>...]
// serverAddress is used as written (a trailing '/' gives "//api/v1/query", as in KEDA). KEDA
// appends the namespace unescaped; so do we, except that bytes no URL may carry (controls, space,
// non-ASCII) are percent-encoded so the request can be sent at all. queryParameters follow in key
// order (Go iterates its map in random order; the server does not care).
//
// Response (the JSON is read with Go's encoding/json rules for KEDA's promQueryResult struct):
//   - keys match case-insensitively ("Data" is "data"); unknown keys are ignored; a JSON null
//     anywhere counts as absent; a value of the wrong type (e.g. "result" holding a scalar's
//     [ts, "v"]) is an error — so only instant vectors work, as in KEDA;
//   - result empty or absent          -> 0 when ignoreNullValues, else "... the result is empty";
//   - more than one element           -> "returned multiple elements";
//   - value empty or absent           -> 0 when ignoreNullValues, else "... value list is empty";
//   - value with one element          -> "didn't return enough values";
//   - value[1] a string               -> strconv.ParseFloat ("+Inf", "NaN", "1e3", hex floats);
//   - value[1] null                   -> -1 (KEDA's quirk: its initial value is returned, no
//   error);
//   - value[1] another JSON type      -> an error (KEDA panics on the type assertion);
//   - NaN or ±Inf                     -> 0 when ignoreNullValues, else "prometheus query returns
//   NaN".
// The "status" field is not looked at (KEDA does not either): {"status":"error"} with HTTP 200 and
// no result reads as an empty result.
#pragma once

#include <string>
#include <string_view>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/status.h"

namespace updraft::prometheus {

// Go's url.QueryEscape: unreserved bytes (A-Z a-z 0-9 - _ . ~) kept, ' ' -> '+', others %XX.
std::string queryEscape(std::string_view s);

// Go's time.Time.UTC().Format(time.RFC3339) for whole seconds: "2006-01-02T15:04:05Z".
std::string rfc3339Utc(TimePoint t);

// Go's strconv.ParseFloat(s, 64). Errors read like Go's:
//   strconv.ParseFloat: parsing "abc": invalid syntax
//   strconv.ParseFloat: parsing "1e400": value out of range
Result<double> parseGoFloat(std::string_view s);

// Go's %f rendering of a non-finite value: "NaN", "+Inf", "-Inf".
std::string nonFiniteText(double v);

// The URL up to and including "&time=", and what follows the time (namespace, queryParameters).
// Built once per trigger; a poll only appends the time.
struct QueryUrl {
  std::string prefix;
  std::string suffix;
  std::string at(TimePoint now) const { return prefix + rfc3339Utc(now) + suffix; }
};
QueryUrl buildQueryUrl(std::string_view serverAddress, std::string_view query,
                       std::string_view namespaceName, const StringMap& queryParameters);

// Reads one /api/v1/query response body. The message says why (never quoting a secret: the body
// holds none of the request's credentials); the caller adds the server and query.
Result<double> readQueryResponse(std::string_view body, bool ignoreNullValues);

}  // namespace updraft::prometheus
