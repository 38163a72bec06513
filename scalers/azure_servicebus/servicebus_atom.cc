#include "azure_servicebus/servicebus_atom.h"

#include <tinyxml2.h>

#include <cctype>

#include "updraft/metadata.h"

namespace updraft::servicebus {
namespace {

using tinyxml2::XMLAttribute;
using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;
using tinyxml2::XMLNode;

constexpr std::string_view kAtomNs = "http://www.w3.org/2005/Atom";
constexpr std::string_view kConnectNs =
    "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
constexpr std::string_view kCountsNs =
    "http://schemas.microsoft.com/netservices/2011/06/servicebus";
constexpr std::string_view kEmptyFeedTitle = "Publicly Listed Services";

std::string_view localName(const XMLElement* e) {
  std::string_view name = e->Name();
  size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The namespace URI of `e`, from the xmlns / xmlns:<prefix> declarations on it and its ancestors.
std::string_view namespaceOf(const XMLElement* e) {
  std::string_view name = e->Name();
  size_t colon = name.find(':');
  std::string attr = colon == std::string_view::npos
                         ? std::string("xmlns")
                         : "xmlns:" + std::string(name.substr(0, colon));
  for (const XMLNode* n = e; n != nullptr; n = n->Parent()) {
    const XMLElement* el = n->ToElement();
    if (!el) break;
    if (const char* v = el->Attribute(attr.c_str())) return v;
  }
  return {};
}

bool is(const XMLElement* e, std::string_view ns, std::string_view local) {
  return e && localName(e) == local && namespaceOf(e) == ns;
}

const XMLElement* child(const XMLElement* parent, std::string_view ns, std::string_view local) {
  if (!parent) return nullptr;
  for (const XMLElement* c = parent->FirstChildElement(); c; c = c->NextSiblingElement()) {
    if (is(c, ns, local)) return c;
  }
  return nullptr;
}

std::string text(const XMLElement* e) {
  if (!e || !e->GetText()) return {};
  return std::string(metadata::trim(e->GetText()));
}

const char* descriptionName(EntityKind kind) {
  return kind == EntityKind::kQueue ? "QueueDescription" : "SubscriptionDescription";
}
const char* kindName(EntityKind kind) {
  return kind == EntityKind::kQueue ? "queue" : "subscription";
}

Status parseDocument(XMLDocument& doc, std::string_view body) {
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) {
    std::string why = doc.ErrorName();
    return Status::invalidArgument("the response is not XML (" + why + " at line " +
                                   std::to_string(doc.ErrorLineNum()) + ")");
  }
  if (!doc.RootElement()) return Status::invalidArgument("the response has no XML element");
  return Status::ok();
}

// ActiveMessageCount of the description in an <entry>'s <content>.
Result<int64_t> entryCount(const XMLElement* entry, EntityKind kind) {
  const XMLElement* content = child(entry, kAtomNs, "content");
  const XMLElement* desc = child(content, kConnectNs, descriptionName(kind));
  if (!desc) {
    // Say what the entry describes instead (a topic, a queue, ...), when it says.
    if (content) {
      if (const XMLElement* other = content->FirstChildElement()) {
        return Status::invalidArgument("the entity is not a " + std::string(kindName(kind)) +
                                       " (the entry holds a " + std::string(localName(other)) +
                                       ")");
      }
    }
    return Status::invalidArgument("the entry has no content/" +
                                   std::string(descriptionName(kind)));
  }
  const XMLElement* count =
      child(child(desc, kConnectNs, "CountDetails"), kCountsNs, "ActiveMessageCount");
  if (!count) return int64_t{0};
  std::string value = text(count);
  auto n = metadata::parseJsonInt64(value);
  if (!n.isOk() || *n < 0) {
    return Status::invalidArgument("ActiveMessageCount \"" + value.substr(0, 40) +
                                   "\" is not a non-negative integer");
  }
  return *n;
}

bool isEmptyFeed(const XMLElement* root) {
  return is(root, kAtomNs, "feed") && text(child(root, kAtomNs, "title")) == kEmptyFeedTitle &&
         !child(root, kAtomNs, "entry");
}

}  // namespace

Result<std::optional<int64_t>> parseEntry(std::string_view body, EntityKind kind) {
  XMLDocument doc;
  UPDRAFT_RETURN_IF_ERROR(parseDocument(doc, body));
  const XMLElement* root = doc.RootElement();
  if (isEmptyFeed(root)) return std::optional<int64_t>();
  if (!is(root, kAtomNs, "entry")) {
    return Status::invalidArgument("expected an Atom <entry>, got <" + std::string(root->Name()) +
                                   ">");
  }
  auto count = entryCount(root, kind);
  if (!count.isOk()) return count.status();
  return std::optional<int64_t>(*count);
}

Result<std::vector<EntityCount>> parseFeed(std::string_view body, EntityKind kind) {
  XMLDocument doc;
  UPDRAFT_RETURN_IF_ERROR(parseDocument(doc, body));
  const XMLElement* root = doc.RootElement();
  if (!is(root, kAtomNs, "feed")) {
    return Status::invalidArgument("expected an Atom <feed>, got <" + std::string(root->Name()) +
                                   ">");
  }
  std::vector<EntityCount> out;
  for (const XMLElement* e = root->FirstChildElement(); e; e = e->NextSiblingElement()) {
    if (!is(e, kAtomNs, "entry")) continue;
    EntityCount item;
    item.name = text(child(e, kAtomNs, "title"));
    auto count = entryCount(e, kind);
    if (!count.isOk()) {
      return Status::invalidArgument("entry \"" + item.name + "\": " + count.status().message());
    }
    item.activeMessageCount = *count;
    out.push_back(std::move(item));
  }
  return out;
}

std::string errorDetail(std::string_view body) {
  XMLDocument doc;
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) return {};
  const XMLElement* root = doc.RootElement();
  if (!root || localName(root) != "Error") return {};
  const XMLElement* detail = root->FirstChildElement("Detail");
  std::string d = text(detail);
  if (size_t t = d.find("TrackingId:"); t != std::string::npos) d.erase(t);
  while (!d.empty() && (std::isspace(static_cast<unsigned char>(d.back())) || d.back() == ',')) {
    d.pop_back();
  }
  if (d.size() > 300) d = d.substr(0, 300) + "...";
  return d;
}

}  // namespace updraft::servicebus
