#include "api.h"

#include <algorithm>
#include <regex>
#include <set>

namespace updraft::kubetest {

namespace {

const char* kModified =
    "the object has been modified; please apply your changes to the latest version and try again";

std::string metaString(const json& object, const char* field) {
  const json* m = jsonAtPath(object, "metadata");
  if (!m || !m->is_object()) return "";
  auto it = m->find(field);
  return it != m->end() && it->is_string() ? it->get<std::string>() : "";
}

json resourceDetails(const ResourceType& rt, const std::string& name) {
  json d = {{"name", name}, {"kind", rt.resource}};
  if (!rt.group.empty()) d["group"] = rt.group;
  return d;
}

ApiError notFound(const ResourceType& rt, const std::string& name) {
  return ApiError(404, "NotFound", rt.qualifiedResource() + " \"" + name + "\" not found",
                  resourceDetails(rt, name));
}

ApiError conflict(const ResourceType& rt, const std::string& name, const std::string& why) {
  return ApiError(
      409, "Conflict",
      "Operation cannot be fulfilled on " + rt.qualifiedResource() + " \"" + name + "\": " + why,
      resourceDetails(rt, name));
}

ApiError gone(const std::string& message) { return ApiError(410, "Expired", message); }

// "" when valid, else the validation message (RFC 1123 subdomain, or label for namespaces).
std::string nameProblem(const std::string& name, bool dnsLabel) {
  static const std::regex subdomain(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  static const std::regex label("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  if (dnsLabel) {
    if (name.size() <= 63 && std::regex_match(name, label)) return "";
    return "Invalid value: \"" + name +
           "\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
           "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  if (name.size() <= 253 && std::regex_match(name, subdomain)) return "";
  return "Invalid value: \"" + name +
         "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
         "'-' or '.', and must start and end with an alphanumeric character (e.g. "
         "'example.com', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}

// Everything but metadata and status: what `generation` tracks.
json specPart(const json& object) {
  json s = object;
  if (s.is_object()) {
    s.erase("metadata");
    s.erase("status");
  }
  return s;
}

bool sameIgnoringVersion(json a, json b) {
  for (json* o : {&a, &b}) {
    if (o->contains("metadata") && (*o)["metadata"].is_object()) {
      (*o)["metadata"].erase("resourceVersion");
      (*o)["metadata"].erase("managedFields");
    }
  }
  return a == b;
}

std::vector<std::string> stringList(const json* v) {
  std::vector<std::string> out;
  if (v && v->is_array()) {
    for (const auto& e : *v) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

bool isWorkload(const ResourceType& rt) {
  return rt.group == "apps" && (rt.resource == "deployments" || rt.resource == "statefulsets" ||
                                rt.resource == "replicasets");
}

bool isCrd(const ResourceType& rt) {
  return rt.group == "apiextensions.k8s.io" && rt.resource == "customresourcedefinitions";
}

bool isNamespaces(const ResourceType& rt) {
  return rt.group.empty() && rt.resource == "namespaces";
}

void checkKind(const ResourceType& rt, const json& body) {
  if (!body.is_object()) {
    throw badRequest("the body of the request must be a JSON object, not " +
                     std::string(body.type_name()));
  }
  if (auto k = body.find("kind"); k != body.end() && !k->is_null()) {
    if (!k->is_string() || (k->get<std::string>() != rt.kind && !k->get<std::string>().empty())) {
      throw badRequest("the kind in the data (" +
                       (k->is_string() ? k->get<std::string>() : k->dump()) +
                       ") does not match the expected kind (" + rt.kind + ")");
    }
  }
  if (auto a = body.find("apiVersion"); a != body.end() && !a->is_null()) {
    if (!a->is_string() ||
        (a->get<std::string>() != rt.apiVersion() && !a->get<std::string>().empty())) {
      throw badRequest("the API version in the data (" +
                       (a->is_string() ? a->get<std::string>() : a->dump()) +
                       ") does not match the expected API version (" + rt.apiVersion() + ")");
    }
  }
  if (auto m = body.find("metadata"); m != body.end() && !m->is_null() && !m->is_object()) {
    throw badRequest("metadata must be an object");
  }
}

json crdStatus(const json& crd, const json* old) {
  json status = old && old->is_object() ? *old : json::object();
  json names = crd["spec"]["names"];
  if (!names.contains("singular")) {
    std::string s = names.value("kind", "");
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    names["singular"] = s;
  }
  if (!names.contains("listKind")) names["listKind"] = names.value("kind", "") + "List";
  status["acceptedNames"] = names;
  if (!status.contains("conditions")) {
    std::string now = nowRfc3339();
    status["conditions"] = {{{"type", "NamesAccepted"},
                             {"status", "True"},
                             {"reason", "NoConflicts"},
                             {"message", "no conflicts found"},
                             {"lastTransitionTime", now}},
                            {{"type", "Established"},
                             {"status", "True"},
                             {"reason", "InitialNamesAccepted"},
                             {"message", "the initial names have been accepted"},
                             {"lastTransitionTime", now}}};
  }
  json stored = status.value("storedVersions", json::array());
  for (const auto& v : crd["spec"]["versions"]) {
    if (v.value("storage", false) &&
        std::find(stored.begin(), stored.end(), v["name"]) == stored.end()) {
      stored.push_back(v["name"]);
    }
  }
  status["storedVersions"] = stored;
  return status;
}

}  // namespace

Api::Api(Store& store, Registry& registry, WatchHub& hub, ApiOptions options)
    : store_(store), registry_(registry), hub_(hub), options_(options) {}

void Api::bootstrap() {
  std::lock_guard lock(store_.mutex());
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (store_.get("/namespaces", "", ns)) continue;
    json o = {{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata",
               {{"name", ns},
                {"uid", newUid()},
                {"creationTimestamp", nowRfc3339()},
                {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}};
    store_.put("/namespaces", std::move(o), EventType::Added, nullptr);
  }
  refreshCustomResources();
}

void Api::refreshCustomResources() {
  std::vector<ResourceType> types;
  if (const auto* b = store_.bucket("apiextensions.k8s.io/customresourcedefinitions")) {
    for (const auto& [id, crd] : *b) {
      try {
        auto t = Registry::fromCrd(crd);
        types.insert(types.end(), t.begin(), t.end());
      } catch (const ApiError&) {
        // An invalid stored CRD (hand-edited state file) is not served.
      }
    }
  }
  registry_.setCustom(std::move(types));
}

json Api::withApiVersion(const ResourceType& rt, json object) const {
  if (object.is_object()) {
    object["apiVersion"] = rt.apiVersion();
    object["kind"] = rt.kind;
  }
  return object;
}

const json* Api::namespaceObject(const std::string& ns) const {
  return store_.get("/namespaces", "", ns);
}

std::vector<json> Api::webhookConfigs() const {
  std::vector<json> out;
  if (const auto* b =
          store_.bucket("admissionregistration.k8s.io/validatingwebhookconfigurations")) {
    for (const auto& [id, o] : *b) out.push_back(o);
  }
  return out;
}

const json& Api::current(const ResourceType& rt, const std::string& ns,
                         const std::string& name) const {
  const json* o = store_.get(rt.storageKey(), ns, name);
  if (!o) throw notFound(rt, name);
  return *o;
}

void Api::checkNamespace(const ResourceType& rt, const std::string& ns, const std::string& name) {
  if (!rt.namespaced) return;
  const json* n = namespaceObject(ns);
  if (!n) {
    throw ApiError(404, "NotFound", "namespaces \"" + ns + "\" not found",
                   {{"name", ns}, {"kind", "namespaces"}});
  }
  if (jsonAtPath(*n, "metadata.deletionTimestamp")) {
    throw ApiError(403, "Forbidden",
                   rt.qualifiedResource() + " \"" + name +
                       "\" is forbidden: unable to create new content in namespace " + ns +
                       " because it is being terminated",
                   resourceDetails(rt, name));
  }
}

void Api::defaults(const ResourceType& rt, json& o) {
  if (isWorkload(rt)) {
    if (!o.contains("spec") || !o["spec"].is_object()) o["spec"] = json::object();
    if (!o["spec"].contains("replicas") || o["spec"]["replicas"].is_null()) {
      o["spec"]["replicas"] = 1;
    }
  } else if (rt.group == "batch" && rt.resource == "jobs") {
    if (!o.contains("spec") || !o["spec"].is_object()) o["spec"] = json::object();
    auto& s = o["spec"];
    if (!s.contains("parallelism")) s["parallelism"] = 1;
    if (!s.contains("completions")) s["completions"] = 1;
    if (!s.contains("backoffLimit")) s["backoffLimit"] = 6;
  } else if (rt.group.empty() && rt.resource == "services") {
    if (!o.contains("spec") || !o["spec"].is_object()) o["spec"] = json::object();
    if (!o["spec"].contains("type")) o["spec"]["type"] = "ClusterIP";
  } else if (isNamespaces(rt)) {
    o["metadata"]["labels"]["kubernetes.io/metadata.name"] = o["metadata"]["name"];
    if (!o.contains("spec") || !o["spec"].is_object()) o["spec"] = json::object();
    o["spec"]["finalizers"] = {"kubernetes"};
  }
}

void Api::validate(const ResourceType& rt, const json& o, const json* old) {
  std::vector<std::pair<std::string, std::string>> errors;
  const json& meta = o["metadata"];
  std::string name = meta.value("name", "");
  for (const char* field : {"labels", "annotations"}) {
    auto it = meta.find(field);
    if (it == meta.end() || it->is_null()) continue;
    bool ok = it->is_object();
    if (ok) {
      for (const auto& [k, v] : it->items()) ok = ok && v.is_string();
    }
    if (!ok) {
      errors.push_back({std::string("metadata.") + field,
                        "Invalid value: must be a map of string keys to string values"});
    }
  }
  if (auto f = meta.find("finalizers"); f != meta.end() && !f->is_null()) {
    bool ok = f->is_array() && std::all_of(f->begin(), f->end(), [](const json& x) {
                return x.is_string() && !x.get<std::string>().empty();
              });
    if (!ok) errors.push_back({"metadata.finalizers", "Invalid value: must be a list of names"});
  }
  if (auto refs = meta.find("ownerReferences"); refs != meta.end() && !refs->is_null()) {
    int controllers = 0;
    if (!refs->is_array()) {
      errors.push_back({"metadata.ownerReferences", "Invalid value: must be a list"});
    } else {
      for (size_t i = 0; i < refs->size(); ++i) {
        const json& r = (*refs)[i];
        std::string at = "metadata.ownerReferences[" + std::to_string(i) + "]";
        for (const char* f : {"apiVersion", "kind", "name", "uid"}) {
          if (!r.is_object() || !r.contains(f) || !r[f].is_string() ||
              r[f].get<std::string>().empty()) {
            errors.push_back({at + "." + f, "Required value"});
          }
        }
        if (r.is_object() && r.value("controller", false)) ++controllers;
      }
    }
    if (controllers > 1) {
      errors.push_back({"metadata.ownerReferences",
                        "Invalid value: Only one reference can have Controller set to true"});
    }
  }
  if (isWorkload(rt)) {
    const json* replicas = jsonAtPath(o, "spec.replicas");
    if (replicas && (!replicas->is_number_integer() || replicas->get<int64_t>() < 0)) {
      errors.push_back({"spec.replicas", "Invalid value: " + replicas->dump() +
                                             ": must be greater than or equal to 0"});
    }
    const json* selector = jsonAtPath(o, "spec.selector");
    if (!selector || !selector->is_object() || selector->empty()) {
      errors.push_back({"spec.selector", "Required value"});
    } else {
      try {
        LabelSelector sel = LabelSelector::fromObject(*selector);
        const json* labels = jsonAtPath(o, "spec.template.metadata.labels");
        if (!sel.matches(labels ? *labels : json())) {
          errors.push_back({"spec.template.metadata.labels",
                            "Invalid value: " + (labels ? labels->dump() : "null") +
                                ": `selector` does not match template `labels`"});
        }
      } catch (const ApiError& e) {
        errors.push_back({"spec.selector", std::string("Invalid value: ") + e.what()});
      }
      if (old) {
        const json* before = jsonAtPath(*old, "spec.selector");
        if (before && *before != *selector) {
          errors.push_back(
              {"spec.selector", "Invalid value: " + selector->dump() + ": field is immutable"});
        }
      }
    }
  } else if (rt.group == "autoscaling" && rt.resource == "horizontalpodautoscalers") {
    const json* max = jsonAtPath(o, "spec.maxReplicas");
    if (!max || !max->is_number_integer() || max->get<int64_t>() < 1) {
      errors.push_back({"spec.maxReplicas", "Required value: must be greater than or equal to 1"});
    }
    const json* min = jsonAtPath(o, "spec.minReplicas");
    if (min && max && min->is_number_integer() && max->is_number_integer() &&
        min->get<int64_t>() > max->get<int64_t>()) {
      errors.push_back({"spec.minReplicas", "Invalid value: " + min->dump() +
                                                ": must be less than or equal to maxReplicas"});
    }
    for (const char* f : {"kind", "name"}) {
      const json* v = jsonAtPath(o, std::string("spec.scaleTargetRef.") + f);
      if (!v || !v->is_string() || v->get<std::string>().empty()) {
        errors.push_back({std::string("spec.scaleTargetRef.") + f, "Required value"});
      }
    }
  } else if (isCrd(rt)) {
    Registry::fromCrd(o);  // throws its own 422
  }
  if (!errors.empty()) throw invalid(rt.group, rt.kind, name, errors);
}

json Api::scaleOf(const ResourceType& rt, const json& o) const {
  const ScalePaths& p = *rt.scale;
  const json* spec = jsonAtPath(o, p.specReplicas);
  const json* status = jsonAtPath(o, p.statusReplicas);
  json scale = {
      {"kind", "Scale"},
      {"apiVersion", "autoscaling/v1"},
      {"metadata",
       {{"name", metaString(o, "name")},
        {"uid", metaString(o, "uid")},
        {"resourceVersion", metaString(o, "resourceVersion")},
        {"creationTimestamp", metaString(o, "creationTimestamp")}}},
      {"spec", {{"replicas", spec && spec->is_number() ? spec->get<int64_t>() : 0}}},
      {"status", {{"replicas", status && status->is_number() ? status->get<int64_t>() : 0}}}};
  if (rt.namespaced) scale["metadata"]["namespace"] = metaString(o, "namespace");
  std::string selector;
  if (p.labelSelector.empty()) {
    const json* sel = jsonAtPath(o, "spec.selector");
    if (sel && sel->is_object()) {
      try {
        selector = LabelSelector::fromObject(*sel).toString();
      } catch (const ApiError&) {
      }
    }
  } else if (const json* s = jsonAtPath(o, p.labelSelector); s && s->is_string()) {
    selector = s->get<std::string>();
  }
  if (!selector.empty()) scale["status"]["selector"] = selector;
  return scale;
}

// ---------------------------------------------------------------------------------------------
// The write pipeline.

WriteResult Api::write(const Prepare& prepare, const Commit& commit, const Caller& caller,
                       bool dryRun) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    Mutation m;
    {
      std::lock_guard lock(store_.mutex());
      m = prepare();
      bool exempt = m.rt.group == "admissionregistration.k8s.io";
      if (!m.noop && !exempt) {
        m.webhooks = webhookConfigs();
        if (!m.webhooks.empty()) {
          const json* n = isNamespaces(m.rt) ? (m.op == Mutation::Op::Delete ? &m.old : &m.object)
                                             : namespaceObject(m.ns);
          const json* labels = n ? jsonAtPath(*n, "metadata.labels") : nullptr;
          m.namespaceLabels = labels ? *labels : json::object();
        }
      }
    }
    std::vector<std::string> warnings;
    if (!m.webhooks.empty()) {
      AdmissionRequest req;
      req.operation = m.op == Mutation::Op::Create   ? "CREATE"
                      : m.op == Mutation::Op::Update ? "UPDATE"
                                                     : "DELETE";
      req.rt = &m.rt;
      req.sub = m.sub;
      req.ns = m.ns;
      req.name = m.name;
      // Subresource writes (/scale) show the webhook the subresource's object.
      if (m.op != Mutation::Op::Delete) {
        req.object =
            m.admissionObject.is_null() ? withApiVersion(m.rt, m.object) : m.admissionObject;
      }
      if (m.op != Mutation::Op::Create) {
        req.oldObject = m.admissionOld.is_null() ? withApiVersion(m.rt, m.old) : m.admissionOld;
      }
      req.dryRun = dryRun;
      req.caller = caller;
      warnings = runValidatingWebhooks(req, m.webhooks, m.namespaceLabels);
    }
    if (dryRun || m.noop) {
      WriteResult r;
      r.code = m.op == Mutation::Op::Create ? 201 : 200;
      r.body = withApiVersion(m.rt, m.op == Mutation::Op::Delete ? m.old : m.object);
      r.warnings = std::move(warnings);
      return r;
    }
    std::lock_guard lock(store_.mutex());
    if (m.op != Mutation::Op::Create) {
      const json* cur = store_.get(m.rt.storageKey(), m.ns, m.name);
      if (!cur || metaString(*cur, "resourceVersion") != m.baseRV) continue;  // changed: redo
    }
    WriteResult r = commit(m);
    r.warnings = std::move(warnings);
    return r;
  }
  throw ApiError(409, "Conflict", "the object changed too often while admission webhooks ran");
}

Api::Mutation Api::prepareCreate(const ResourceType& rt, const std::string& ns, json body) {
  checkKind(rt, body);
  json& meta = body["metadata"];
  if (meta.is_null()) meta = json::object();
  body["apiVersion"] = rt.apiVersion();
  body["kind"] = rt.kind;
  if (rt.namespaced) {
    std::string bodyNs = meta.value("namespace", "");
    if (!bodyNs.empty() && bodyNs != ns) {
      throw badRequest(
          "the namespace of the provided object does not match the namespace sent "
          "on the request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  if (meta.contains("name") && !meta["name"].is_string())
    throw badRequest("metadata.name must be a string");
  std::string name = meta.value("name", "");
  if (name.empty()) {
    std::string prefix = meta.contains("generateName") && meta["generateName"].is_string()
                             ? meta["generateName"].get<std::string>()
                             : "";
    if (prefix.empty()) {
      throw invalid(rt.group, rt.kind, "",
                    {{"metadata.name", "Required value: name or generateName is required"}});
    }
    name = prefix + randomSuffix(5);
    meta["name"] = name;
  }
  if (std::string problem = nameProblem(name, isNamespaces(rt)); !problem.empty()) {
    throw invalid(rt.group, rt.kind, name, {{"metadata.name", problem}});
  }
  checkNamespace(rt, ns, name);
  if (store_.get(rt.storageKey(), rt.namespaced ? ns : "", name)) {
    throw ApiError(409, "AlreadyExists",
                   rt.qualifiedResource() + " \"" + name + "\" already exists",
                   resourceDetails(rt, name));
  }
  for (const char* f : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "selfLink", "managedFields"}) {
    meta.erase(f);
  }
  meta["uid"] = newUid();
  meta["creationTimestamp"] = nowRfc3339();
  meta["generation"] = 1;
  if (rt.statusSubresource) {
    if (rt.builtin) {
      body["status"] = json::object();
    } else {
      body.erase("status");
    }
  }
  if (rt.group.empty() && rt.resource == "pods") body["status"] = {{"phase", "Pending"}};
  if (isNamespaces(rt)) body["status"] = {{"phase", "Active"}};
  defaults(rt, body);
  validate(rt, body, nullptr);
  if (isCrd(rt)) body["status"] = crdStatus(body, nullptr);
  Mutation m;
  m.op = Mutation::Op::Create;
  m.rt = rt;
  m.ns = rt.namespaced ? ns : "";
  m.name = name;
  m.object = std::move(body);
  return m;
}

Api::Mutation Api::prepareUpdate(const ResourceType& rt, const std::string& ns,
                                 const std::string& name, const std::string& sub, json body,
                                 bool fromPatch) {
  checkKind(rt, body);
  const json& cur = current(rt, ns, name);
  const json empty = json::object();
  const json& meta =
      body.contains("metadata") && body["metadata"].is_object() ? body["metadata"] : empty;
  if (meta.contains("name") && (!meta["name"].is_string() || meta["name"] != name)) {
    throw badRequest(
        "the name of the object (" +
        (meta["name"].is_string() ? meta["name"].get<std::string>() : meta["name"].dump()) +
        ") does not match the name on the URL (" + name + ")");
  }
  if (rt.namespaced && meta.contains("namespace") && meta["namespace"].is_string() &&
      !meta["namespace"].get<std::string>().empty() && meta["namespace"] != ns) {
    throw badRequest(
        "the namespace of the provided object does not match the namespace sent on "
        "the request");
  }
  if (meta.contains("resourceVersion") && !meta["resourceVersion"].is_string() &&
      !meta["resourceVersion"].is_null()) {
    throw badRequest("metadata.resourceVersion must be a string");
  }
  std::string rv = meta.value("resourceVersion", json("")).is_string()
                       ? meta.value("resourceVersion", json("")).get<std::string>()
                       : "";
  std::string curRV = metaString(cur, "resourceVersion");
  if (!rv.empty() && rv != curRV) throw conflict(rt, name, kModified);
  if (rv.empty() && !fromPatch && !rt.builtin) {
    throw invalid(
        rt.group, rt.kind, name,
        {{"metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"}});
  }
  std::string uid =
      meta.contains("uid") && meta["uid"].is_string() ? meta["uid"].get<std::string>() : "";
  if (!uid.empty() && uid != metaString(cur, "uid")) {
    throw conflict(rt, name,
                   "Precondition failed: UID in precondition: " + uid +
                       ", UID in object meta: " + metaString(cur, "uid"));
  }
  json next;
  if (sub == "status") {
    next = cur;
    if (body.contains("status")) {
      next["status"] = body["status"];
    } else {
      next.erase("status");
    }
  } else {
    next = std::move(body);
    next["apiVersion"] = rt.apiVersion();
    next["kind"] = rt.kind;
    json& nm = next["metadata"];
    if (!nm.is_object()) nm = json::object();
    nm["name"] = name;
    if (rt.namespaced) {
      nm["namespace"] = ns;
    } else {
      nm.erase("namespace");
    }
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (cur["metadata"].contains(f)) {
        nm[f] = cur["metadata"][f];
      } else {
        nm.erase(f);
      }
    }
    nm.erase("resourceVersion");
    nm.erase("selfLink");
    if (rt.statusSubresource) {
      if (cur.contains("status")) {
        next["status"] = cur["status"];
      } else {
        next.erase("status");
      }
    }
    defaults(rt, next);
  }
  if (jsonAtPath(cur, "metadata.deletionTimestamp")) {
    auto before = stringList(jsonAtPath(cur, "metadata.finalizers"));
    std::vector<std::string> added;
    for (const auto& f : stringList(jsonAtPath(next, "metadata.finalizers"))) {
      if (std::find(before.begin(), before.end(), f) == before.end()) added.push_back(f);
    }
    if (!added.empty()) {
      std::string list;
      for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
      json details = resourceDetails(rt, name);
      details["kind"] = rt.kind;
      details["causes"] = {{{"reason", "FieldValueForbidden"},
                            {"message",
                             "Forbidden: no new finalizers can be added if the object "
                             "is being deleted, found new finalizers []string{" +
                                 list + "}"},
                            {"field", "metadata.finalizers"}}};
      throw ApiError(422, "Invalid",
                     rt.kind + (rt.group.empty() ? "" : "." + rt.group) + " \"" + name +
                         "\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be "
                         "added if the object is being deleted, found new finalizers []string{" +
                         list + "}",
                     details);
    }
  }
  validate(rt, next, &cur);
  if (sub != "status" && specPart(next) != specPart(cur)) {
    next["metadata"]["generation"] = cur["metadata"].value("generation", 0) + 1;
  }
  if (isCrd(rt)) next["status"] = crdStatus(next, jsonAtPath(cur, "status"));
  Mutation m;
  m.op = Mutation::Op::Update;
  m.rt = rt;
  m.ns = rt.namespaced ? ns : "";
  m.name = name;
  m.sub = sub;
  m.baseRV = curRV;
  m.old = cur;
  if (sameIgnoringVersion(next, cur)) {
    m.noop = true;
    m.object = cur;
  } else {
    m.object = std::move(next);
  }
  return m;
}

WriteResult Api::commitCreate(Mutation& m) {
  if (store_.get(m.rt.storageKey(), m.ns, m.name)) {
    throw ApiError(409, "AlreadyExists",
                   m.rt.qualifiedResource() + " \"" + m.name + "\" already exists",
                   resourceDetails(m.rt, m.name));
  }
  checkNamespace(m.rt, m.ns, m.name);
  const json& stored = store_.put(m.rt.storageKey(), m.object, EventType::Added, nullptr);
  WriteResult r{201, withApiVersion(m.rt, stored), {}};
  if (isCrd(m.rt)) refreshCustomResources();
  return r;
}

WriteResult Api::commitUpdate(Mutation& m) {
  const std::string key = m.rt.storageKey();
  if (jsonAtPath(m.object, "metadata.deletionTimestamp") &&
      stringList(jsonAtPath(m.object, "metadata.finalizers")).empty() && !isNamespaces(m.rt)) {
    // The last finalizer is gone: the object goes away now (one DELETED event).
    json last = m.object;
    removeNow(key, m.ns, m.name, last);
    settlePendingDeletions();
    last["metadata"]["resourceVersion"] = std::to_string(store_.resourceVersion());
    return {200, withApiVersion(m.rt, last), {}};
  }
  const json& stored = store_.put(key, m.object, EventType::Modified, m.old);
  WriteResult r{200, withApiVersion(m.rt, stored), {}};
  if (isCrd(m.rt)) refreshCustomResources();
  return r;
}

WriteResult Api::commitDelete(Mutation& m) {
  json kept = deleteLocked(m.rt, m.ns, m.name, m.del.propagationPolicy);
  settlePendingDeletions();
  if (const json* cur = store_.get(m.rt.storageKey(), m.ns, m.name)) {
    return {200, withApiVersion(m.rt, *cur), {}};
  }
  json details = resourceDetails(m.rt, m.name);
  details["uid"] = metaString(m.old, "uid");
  return {200, successStatus(details), {}};
}

// ---------------------------------------------------------------------------------------------
// Public operations.

json Api::get(const ResourceType& rt, const std::string& ns, const std::string& name,
              const std::string& sub) {
  std::lock_guard lock(store_.mutex());
  const json& cur = current(rt, rt.namespaced ? ns : "", name);
  if (sub == "scale") return scaleOf(rt, cur);
  return withApiVersion(rt, cur);
}

json Api::list(const ResourceType& rt, const std::string& ns, const ListOptions& options) {
  LabelSelector labels = LabelSelector::parse(options.labelSelector);
  FieldSelector fields =
      FieldSelector::parse(options.fieldSelector, selectableFields(rt.group, rt.resource));
  std::lock_guard lock(store_.mutex());
  uint64_t current = store_.resourceVersion();
  uint64_t listRV = current;
  std::pair<std::string, std::string> after;
  bool hasAfter = false;
  std::optional<Store::Bucket> snapshot;
  if (!options.continueToken.empty()) {
    std::string raw;
    json token;
    if (!base64Decode(options.continueToken, raw) ||
        !(token = json::parse(raw, nullptr, false)).is_object() || !token.contains("rv") ||
        !token["rv"].is_number_unsigned() || !token.contains("start") ||
        !token["start"].is_array() || token["start"].size() != 2) {
      throw badRequest(
          "continue key is not valid: the continue token is not one this server "
          "issued");
    }
    listRV = token["rv"].get<uint64_t>();
    after = {token["start"][0].get<std::string>(), token["start"][1].get<std::string>()};
    hasAfter = true;
    snapshot = store_.snapshotAt(rt.storageKey(), listRV);
    if (!snapshot) {
      throw gone(
          "The provided continue parameter is too old to display a consistent list "
          "result. You can start a new list without the continue parameter, or use the "
          "continue token in this response to retrieve the remainder of the results. "
          "Continuing with the provided token results in an inconsistent list - objects "
          "that were created, modified, or deleted between the time the first chunk was "
          "returned and now may show up in the list.");
    }
  } else if (!options.resourceVersion.empty() && options.resourceVersion != "0") {
    uint64_t rv;
    if (!parseUint(options.resourceVersion, rv)) {
      throw badRequest("resourceVersion: Invalid value: \"" + options.resourceVersion +
                       "\": must be a non-negative integer");
    }
    if (options.resourceVersionMatch == "Exact") {
      snapshot = store_.snapshotAt(rt.storageKey(), rv);
      if (!snapshot) {
        if (rv > current) {
          throw ApiError(504, "Timeout",
                         "Too large resource version: " + std::to_string(rv) +
                             ", current: " + std::to_string(current));
        }
        throw gone("too old resource version: " + std::to_string(rv) + " (" +
                   std::to_string(store_.oldestResumableRV()) + ")");
      }
      listRV = rv;
    } else if (options.resourceVersionMatch.empty() ||
               options.resourceVersionMatch == "NotOlderThan") {
      if (rv > current) {
        json details = {
            {"causes",
             {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
            {"retryAfterSeconds", 1}};
        throw ApiError(504, "Timeout",
                       "Too large resource version: " + std::to_string(rv) +
                           ", current: " + std::to_string(current),
                       details);
      }
      if (rv < store_.oldestResumableRV()) {
        throw gone("too old resource version: " + std::to_string(rv) + " (" +
                   std::to_string(store_.oldestResumableRV()) + ")");
      }
    } else {
      throw badRequest("resourceVersionMatch: Unsupported value: \"" +
                       options.resourceVersionMatch +
                       "\": supported values: \"Exact\", \"NotOlderThan\"");
    }
  }
  const Store::Bucket* bucket = snapshot ? &*snapshot : store_.bucket(rt.storageKey());
  json items = json::array();
  std::string nextToken;
  uint64_t remaining = 0;
  if (bucket) {
    auto it = hasAfter ? bucket->upper_bound(after) : bucket->begin();
    for (; it != bucket->end(); ++it) {
      const auto& [id, obj] = *it;
      if (rt.namespaced && !ns.empty() && id.first != ns) continue;
      const json* l = jsonAtPath(obj, "metadata.labels");
      if (!labels.matches(l ? *l : json()) || !fields.matches(obj)) continue;
      if (options.limit > 0 && items.size() >= options.limit) {
        ++remaining;
        continue;
      }
      items.push_back(withApiVersion(rt, obj));
      if (options.limit > 0 && items.size() == options.limit) after = id;
    }
  }
  json meta = {{"resourceVersion", std::to_string(listRV)}};
  if (remaining > 0) {
    nextToken = base64Encode(json({{"rv", listRV}, {"start", {after.first, after.second}}}).dump());
    meta["continue"] = nextToken;
    if (labels.empty() && fields.empty()) meta["remainingItemCount"] = remaining;
  }
  return {{"kind", rt.listKind()},
          {"apiVersion", rt.apiVersion()},
          {"metadata", meta},
          {"items", std::move(items)}};
}

WriteResult Api::create(const ResourceType& rt, const std::string& ns, json body,
                        const Caller& caller, bool dryRun) {
  return write([&] { return prepareCreate(rt, ns, body); },
               [&](Mutation& m) { return commitCreate(m); }, caller, dryRun);
}

WriteResult Api::update(const ResourceType& rt, const std::string& ns, const std::string& name,
                        const std::string& sub, json body, const Caller& caller, bool dryRun) {
  std::string objNs = rt.namespaced ? ns : "";
  if (sub != "scale") {
    return write([&] { return prepareUpdate(rt, objNs, name, sub, body, false); },
                 [&](Mutation& m) { return commitUpdate(m); }, caller, dryRun);
  }
  auto prepareScale = [this, &rt, objNs, name](const json& scale) {
    const json& cur = current(rt, objNs, name);
    if (!scale.is_object()) throw badRequest("a Scale must be a JSON object");
    std::string rv = metaString(scale, "resourceVersion");
    if (!rv.empty() && rv != metaString(cur, "resourceVersion"))
      throw conflict(rt, name, kModified);
    const json* replicas = jsonAtPath(scale, "spec.replicas");
    if (replicas && (!replicas->is_number_integer() || replicas->get<int64_t>() < 0)) {
      throw invalid("autoscaling", "Scale", name,
                    {{"spec.replicas", "Invalid value: " + replicas->dump() +
                                           ": must be greater than or equal to 0"}});
    }
    json next = cur;
    setJsonAtPath(next, rt.scale->specReplicas, replicas ? replicas->get<int64_t>() : 0);
    Mutation m = prepareUpdate(rt, objNs, name, "", next, true);
    m.sub = "scale";
    m.admissionObject = scaleOf(rt, m.object);
    m.admissionOld = scaleOf(rt, cur);
    return m;
  };
  WriteResult r = write([&] { return prepareScale(body); },
                        [&](Mutation& m) { return commitUpdate(m); }, caller, dryRun);
  r.body = scaleOf(rt, r.body);
  return r;
}

WriteResult Api::patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                       const std::string& sub, PatchType type, const json& patchBody,
                       const std::string& fieldManager, const Caller& caller, bool dryRun) {
  std::string objNs = rt.namespaced ? ns : "";
  if (type == PatchType::Strategic && !rt.builtin && sub != "scale") {
    throw unsupportedMediaType(
        "the body of the request was in an unknown format - accepted "
        "media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml");
  }
  if (type == PatchType::Apply) {
    if (fieldManager.empty()) {
      throw invalid("meta.k8s.io", "PatchOptions", "",
                    {{"fieldManager", "Required value: is required for apply patch"}});
    }
    if (!patchBody.is_object()) throw badRequest("an apply patch must be a JSON object");
  }
  auto apply = [&](const json& target) {
    switch (type) {
      case PatchType::Merge:
      case PatchType::Apply:
        return applyMergePatch(target, patchBody);
      case PatchType::Json:
        return applyJsonPatch(target, patchBody);
      case PatchType::Strategic:
        return applyStrategicMergePatch(target, patchBody, rt.resource);
    }
    return target;
  };
  auto prepare = [&]() -> Mutation {
    const json* cur = store_.get(rt.storageKey(), objNs, name);
    if (!cur && type == PatchType::Apply && sub.empty()) {
      json body = patchBody;
      body["metadata"]["name"] = name;
      return prepareCreate(rt, ns, body);
    }
    if (!cur) throw notFound(rt, name);
    if (sub == "scale") {
      json scale = scaleOf(rt, *cur);
      json patched = apply(scale);
      std::string rv = metaString(patched, "resourceVersion");
      if (!rv.empty() && rv != metaString(*cur, "resourceVersion")) {
        throw conflict(rt, name, kModified);
      }
      const json* replicas = jsonAtPath(patched, "spec.replicas");
      if (replicas && (!replicas->is_number_integer() || replicas->get<int64_t>() < 0)) {
        throw invalid("autoscaling", "Scale", name,
                      {{"spec.replicas", "Invalid value: " + replicas->dump() +
                                             ": must be greater than or equal to 0"}});
      }
      json next = *cur;
      setJsonAtPath(next, rt.scale->specReplicas, replicas ? replicas->get<int64_t>() : 0);
      Mutation m = prepareUpdate(rt, objNs, name, "", next, true);
      m.sub = "scale";
      m.admissionObject = scaleOf(rt, m.object);
      m.admissionOld = scale;
      return m;
    }
    json target = withApiVersion(rt, *cur);
    json patched = apply(target);
    if (!patched.is_object()) throw badRequest("the patched object is not a JSON object");
    return prepareUpdate(rt, objNs, name, sub, patched, true);
  };
  WriteResult r = write(
      prepare,
      [&](Mutation& m) { return m.op == Mutation::Op::Create ? commitCreate(m) : commitUpdate(m); },
      caller, dryRun);
  if (sub == "scale") r.body = scaleOf(rt, r.body);
  return r;
}

WriteResult Api::remove(const ResourceType& rt, const std::string& ns, const std::string& name,
                        const DeleteOptions& options, const Caller& caller) {
  std::string objNs = rt.namespaced ? ns : "";
  const std::string& policy = options.propagationPolicy;
  if (!policy.empty() && policy != "Orphan" && policy != "Background" && policy != "Foreground") {
    throw invalid("meta.k8s.io", "DeleteOptions", "",
                  {{"propagationPolicy", "Unsupported value: \"" + policy +
                                             "\": supported values: \"Foreground\", "
                                             "\"Background\", \"Orphan\", \"nil\""}});
  }
  auto prepare = [&]() -> Mutation {
    const json& cur = current(rt, objNs, name);
    if (options.preconditionUid && *options.preconditionUid != metaString(cur, "uid")) {
      throw conflict(rt, name,
                     "Precondition failed: UID in precondition: " + *options.preconditionUid +
                         ", UID in object meta: " + metaString(cur, "uid"));
    }
    if (options.preconditionResourceVersion &&
        *options.preconditionResourceVersion != metaString(cur, "resourceVersion")) {
      throw conflict(rt, name,
                     "Precondition failed: ResourceVersion in precondition: " +
                         *options.preconditionResourceVersion +
                         ", ResourceVersion in object meta: " + metaString(cur, "resourceVersion"));
    }
    Mutation m;
    m.op = Mutation::Op::Delete;
    m.rt = rt;
    m.ns = objNs;
    m.name = name;
    m.old = cur;
    m.baseRV = metaString(cur, "resourceVersion");
    m.del = options;
    return m;
  };
  return write(
      prepare, [&](Mutation& m) { return commitDelete(m); }, caller, options.dryRun);
}

WriteResult Api::removeCollection(const ResourceType& rt, const std::string& ns,
                                  const ListOptions& list, const DeleteOptions& options,
                                  const Caller& caller) {
  json matching = this->list(rt, ns, list);
  json deleted = json::array();
  for (const auto& item : matching["items"]) {
    try {
      remove(rt, ns, metaString(item, "name"), options, caller);
      deleted.push_back(item);
    } catch (const ApiError& e) {
      if (e.code != 404) throw;
    }
  }
  matching["items"] = deleted;
  return {200, matching, {}};
}

std::shared_ptr<Watcher> Api::watch(const ResourceType& rt, const std::string& ns,
                                    const ListOptions& options) {
  WatchFilter filter;
  filter.storageKey = rt.storageKey();
  filter.ns = rt.namespaced ? ns : "";
  filter.labels = LabelSelector::parse(options.labelSelector);
  filter.fields =
      FieldSelector::parse(options.fieldSelector, selectableFields(rt.group, rt.resource));
  if (options.sendInitialEvents && !options.allowWatchBookmarks) {
    throw invalid("meta.k8s.io", "ListOptions", "",
                  {{"allowWatchBookmarks",
                    "Required value: allowWatchBookmarks must be set to "
                    "true when sendInitialEvents is set"}});
  }
  uint64_t from = 0;
  bool initial = options.sendInitialEvents || options.resourceVersion.empty() ||
                 options.resourceVersion == "0";
  if (!initial && !parseUint(options.resourceVersion, from)) {
    throw badRequest("resourceVersion: Invalid value: \"" + options.resourceVersion +
                     "\": must be a non-negative integer");
  }
  std::lock_guard lock(store_.mutex());
  auto w = std::make_shared<Watcher>(filter, rt.apiVersion(), rt.kind, store_.resourceVersion());
  if (initial) {
    if (const auto* b = store_.bucket(rt.storageKey())) {
      for (const auto& [id, obj] : *b) {
        if (!filter.ns.empty() && id.first != filter.ns) continue;
        const json* l = jsonAtPath(obj, "metadata.labels");
        if (filter.labels.matches(l ? *l : json()) && filter.fields.matches(obj)) {
          w->pushLine(w->line("ADDED", obj));
        }
      }
    }
    if (options.sendInitialEvents) {
      json object = {{"kind", rt.kind},
                     {"apiVersion", rt.apiVersion()},
                     {"metadata",
                      {{"resourceVersion", std::to_string(store_.resourceVersion())},
                       {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
      w->pushLine(json({{"type", "BOOKMARK"}, {"object", object}}).dump() + "\n");
    }
  } else {
    std::vector<const Event*> changes;
    if (!store_.changesSince(from, changes)) {
      ApiError e = gone("too old resource version: " + std::to_string(from) + " (" +
                        std::to_string(store_.oldestResumableRV()) + ")");
      w->pushLine(json({{"type", "ERROR"}, {"object", statusObject(e)}}).dump() + "\n");
      w->close(false);
      return w;
    }
    for (const Event* e : changes) w->offer(*e);
  }
  hub_.add(w);
  return w;
}

// ---------------------------------------------------------------------------------------------
// Deletion, finalizers and garbage collection (store mutex held).

std::vector<std::tuple<std::string, std::string, std::string>> Api::dependentsOf(
    const std::string& uid) const {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  if (uid.empty()) return out;
  for (const auto& [key, bucket] : store_.buckets()) {
    for (const auto& [id, obj] : bucket) {
      const json* refs = jsonAtPath(obj, "metadata.ownerReferences");
      if (!refs || !refs->is_array()) continue;
      for (const auto& r : *refs) {
        if (r.is_object() && r.value("uid", "") == uid) {
          out.emplace_back(key, id.first, id.second);
          break;
        }
      }
    }
  }
  return out;
}

bool Api::hasBlockingDependents(const std::string& uid) const {
  for (const auto& [key, ns, name] : dependentsOf(uid)) {
    const json* obj = store_.get(key, ns, name);
    for (const auto& r : *jsonAtPath(*obj, "metadata.ownerReferences")) {
      if (r.is_object() && r.value("uid", "") == uid && r.value("blockOwnerDeletion", false)) {
        return true;
      }
    }
  }
  return false;
}

json Api::deleteLocked(const ResourceType& rt, const std::string& ns, const std::string& name,
                       std::string policy) {
  const std::string key = rt.storageKey();
  const json* found = store_.get(key, ns, name);
  if (!found) return nullptr;
  json obj = *found;
  if (jsonAtPath(obj, "metadata.deletionTimestamp")) return obj;  // already being deleted
  if (policy.empty())
    policy = rt.group == "batch" && rt.resource == "jobs" ? "Orphan" : "Background";
  std::string uid = metaString(obj, "uid");
  if (policy == "Orphan") {
    for (const auto& [dkey, dns, dname] : dependentsOf(uid)) {
      json dep = *store_.get(dkey, dns, dname);
      json old = dep;
      json refs = json::array();
      for (const auto& r : dep["metadata"]["ownerReferences"]) {
        if (r.value("uid", "") != uid) refs.push_back(r);
      }
      if (refs.empty()) {
        dep["metadata"].erase("ownerReferences");
      } else {
        dep["metadata"]["ownerReferences"] = refs;
      }
      store_.put(dkey, dep, EventType::Modified, old);
    }
  } else if (policy == "Foreground") {
    for (const auto& [dkey, dns, dname] : dependentsOf(uid)) {
      if (const ResourceType* drt = registry_.findByStorageKey(dkey)) {
        deleteLocked(*drt, dns, dname, "Foreground");
      }
    }
  }
  auto finalizers = stringList(jsonAtPath(obj, "metadata.finalizers"));
  if (policy == "Foreground" && hasBlockingDependents(uid) &&
      std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion") == finalizers.end()) {
    finalizers.push_back("foregroundDeletion");
  }
  if (isNamespaces(rt)) {
    json old = obj;
    obj["metadata"]["deletionTimestamp"] = nowRfc3339();
    obj["status"]["phase"] = "Terminating";
    store_.put(key, obj, EventType::Modified, old);
    for (const auto& [bkey, bucket] : store_.buckets()) {
      (void)bucket;
      const ResourceType* brt = registry_.findByStorageKey(bkey);
      if (!brt || !brt->namespaced) continue;
      std::vector<std::string> names;
      for (const auto& [id, o] : *store_.bucket(bkey)) {
        if (id.first == name) names.push_back(id.second);
      }
      for (const auto& n : names) deleteLocked(*brt, name, n, "Background");
    }
    return *store_.get(key, ns, name);  // removed by settlePendingDeletions once empty
  }
  if (!finalizers.empty()) {
    json old = obj;
    obj["metadata"]["deletionTimestamp"] = nowRfc3339();
    obj["metadata"]["deletionGracePeriodSeconds"] = 0;
    obj["metadata"]["finalizers"] = finalizers;
    return store_.put(key, obj, EventType::Modified, old);
  }
  removeNow(key, ns, name, obj);
  return nullptr;
}

void Api::removeNow(const std::string& key, const std::string& ns, const std::string& name,
                    json last) {
  std::string uid = metaString(last, "uid");
  bool crd = key == "apiextensions.k8s.io/customresourcedefinitions";
  store_.erase(key, ns, name, last);
  if (crd) {
    std::string group = last["spec"].value("group", "");
    std::string plural = last["spec"]["names"].value("plural", "");
    std::string crKey = group + "/" + plural;
    std::vector<std::pair<std::string, std::string>> ids;
    if (const auto* b = store_.bucket(crKey)) {
      for (const auto& [id, o] : *b) ids.push_back(id);
    }
    for (const auto& [cns, cname] : ids) {
      store_.erase(crKey, cns, cname, *store_.get(crKey, cns, cname));
    }
    refreshCustomResources();
  }
  collectDependents(uid);
}

void Api::collectDependents(const std::string& ownerUid) {
  std::set<std::string> live;
  for (const auto& [key, bucket] : store_.buckets()) {
    for (const auto& [id, obj] : bucket) live.insert(metaString(obj, "uid"));
  }
  for (const auto& [dkey, dns, dname] : dependentsOf(ownerUid)) {
    const json* found = store_.get(dkey, dns, dname);
    if (!found) continue;  // removed by an earlier cascade
    json dep = *found;
    json others = json::array();
    bool otherLive = false;
    for (const auto& r : dep["metadata"]["ownerReferences"]) {
      if (r.value("uid", "") == ownerUid) continue;
      others.push_back(r);
      if (live.count(r.value("uid", ""))) otherLive = true;
    }
    if (otherLive) {
      json old = dep;
      dep["metadata"]["ownerReferences"] = others;
      store_.put(dkey, dep, EventType::Modified, old);
    } else if (const ResourceType* drt = registry_.findByStorageKey(dkey)) {
      deleteLocked(*drt, dns, dname, "Background");
    } else {
      removeNow(dkey, dns, dname, dep);
    }
  }
}

void Api::settlePendingDeletions() {
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [key, bucket] : store_.buckets()) {
      for (const auto& [id, obj] : bucket) {
        if (!jsonAtPath(obj, "metadata.deletionTimestamp")) continue;
        if (key == "/namespaces") {
          bool empty = true;
          for (const auto& [k2, b2] : store_.buckets()) {
            for (const auto& [id2, o2] : b2) {
              (void)o2;
              if (id2.first == id.second && !id2.first.empty()) empty = false;
            }
          }
          if (empty && stringList(jsonAtPath(obj, "metadata.finalizers")).empty()) {
            std::string name = id.second;  // copies: removeNow erases the map node
            removeNow(key, "", name, json(obj));
            changed = true;
          }
        } else {
          auto fins = stringList(jsonAtPath(obj, "metadata.finalizers"));
          auto fg = std::find(fins.begin(), fins.end(), "foregroundDeletion");
          if (fg == fins.end() || hasBlockingDependents(metaString(obj, "uid"))) continue;
          fins.erase(fg);
          json next = obj;
          std::string ns = id.first, name = id.second;
          if (fins.empty()) {
            next["metadata"].erase("finalizers");
            removeNow(key, ns, name, next);
          } else {
            next["metadata"]["finalizers"] = fins;
            store_.put(key, next, EventType::Modified, obj);
          }
          changed = true;
        }
        if (changed) break;
      }
      if (changed) break;
    }
  }
}

}  // namespace updraft::kubetest
