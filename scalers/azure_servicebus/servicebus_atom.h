// Reading the Service Bus management API's Atom documents (api-version 2021-05), as the Go SDK's
// azservicebus/admin package reads them:
//
//   entry (http://www.w3.org/2005/Atom)
//     title                        the entity's name (in list feeds)
//     content
//       QueueDescription | SubscriptionDescription
//                                  (http://schemas.microsoft.com/netservices/2010/10/servicebus/connect)
//         CountDetails
//           ActiveMessageCount     (http://schemas.microsoft.com/netservices/2011/06/servicebus)
//
// A GET of an entity that does not exist answers 200 with an empty feed titled
// "Publicly Listed Services"; errors are <Error><Code>..</Code><Detail>..</Detail></Error>.
// Namespaces are resolved properly (any prefix may be used); only ActiveMessageCount is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft::servicebus {

enum class EntityKind { kQueue, kSubscription };

struct EntityCount {
  std::string name;  // the entry's <title>
  int64_t activeMessageCount = 0;
};

// The ActiveMessageCount of one entity's <entry>; nullopt when the body is the empty feed the
// service returns for an entity that does not exist. A missing ActiveMessageCount counts as 0 (as
// in the Go SDK). Errors (InvalidArgument) say what is wrong with the document, e.g. an entry
// describing a topic where a queue was asked for.
Result<std::optional<int64_t>> parseEntry(std::string_view body, EntityKind kind);

// The entries of one page of a list feed (/$Resources/Queues, /<topic>/Subscriptions).
Result<std::vector<EntityCount>> parseFeed(std::string_view body, EntityKind kind);

// The Detail of an <Error> body without the service's "TrackingId:..." tail, at most 300
// characters; empty when the body is not such a document.
std::string errorDetail(std::string_view body);

}  // namespace updraft::servicebus
