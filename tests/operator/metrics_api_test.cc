// external.metrics.k8s.io/v1beta1 over HTTPS, asked the way kube-aggregator forwards the HPA
// controller's requests.
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

namespace {

const std::string kBase = "/apis/external.metrics.k8s.io/v1beta1/namespaces/test/";

bool isRfc3339(const std::string& s) {
  // 2024-05-01T12:00:00Z (fractions allowed)
  return s.size() >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
         s[16] == ':' && (s.back() == 'Z' || s.find('+', 19) != std::string::npos);
}

}  // namespace

TEST_CASE("operator: the external metrics API answers like KEDA's metrics server") {
  KedaCluster k;
  ValueServer values;
  values.set(7);
  k.create(deploymentPath(), deploymentObject("web", 1));
  k.create(soPath(), scaledObjectObject("web", "web", {metricsApiTrigger(values.url("/value"))}));
  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] {
    json o = k.scaledObject("web");
    return conditionStatus(o, "Ready") == "True" &&
           !o.value("/status/externalMetricNames"_json_pointer, json::array()).empty();
  }));
  const std::string metric = k.scaledObject("web")["status"]["externalMetricNames"][0];
  // The name the HPA asks for.
  CHECK(k.hpa("keda-hpa-web")["spec"]["metrics"][0]["external"]["metric"]["name"] == metric);
  const Client metrics = op.metricsClient();
  const std::string selector = "?labelSelector=scaledobject.keda.sh%2Fname%3Dweb";

  {  // the value list
    Response r = metrics.get(kBase + metric + selector);
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.header("content-type").starts_with("application/json"));
    json list = r.json();
    CHECK(list["kind"] == "ExternalMetricValueList");
    CHECK(list["apiVersion"] == "external.metrics.k8s.io/v1beta1");
    REQUIRE(list["items"].size() == 1);
    const json& item = list["items"][0];
    CHECK(item["metricName"] == metric);
    CHECK(item["value"] == "7");
    REQUIRE(item["timestamp"].is_string());
    CHECK(isRfc3339(item["timestamp"]));
  }

  {  // a fractional value is a milli quantity; the value is read fresh (the HPA's 15 s loop)
    values.set(2.5);
    CHECK(eventually([&] {
      Response r = metrics.get(kBase + metric + selector);
      return r.code == 200 && r.json()["items"][0]["value"] == "2500m";
    }));
  }

  {  // the same selector written as a set expression
    Response r =
        metrics.get(kBase + metric + "?labelSelector=scaledobject.keda.sh%2Fname+in+%28web%29");
    INFO(r.body);
    CHECK(r.code == 200);
  }

  {  // an unknown ScaledObject
    Response r = metrics.get(kBase + metric + "?labelSelector=scaledobject.keda.sh%2Fname%3Dnope");
    INFO(r.body);
    CHECK(r.code == 404);
    json st = r.json();
    CHECK(st["kind"] == "Status");
    CHECK(st["status"] == "Failure");
    CHECK(st["reason"] == "NotFound");
    CHECK(st["code"] == 404);
    CHECK(st.value("message", "").find("nope") != std::string::npos);
  }

  {  // a metric the ScaledObject does not have
    Response r = metrics.get(kBase + "s9-nothing" + selector);
    INFO(r.body);
    CHECK(r.code == 404);
    CHECK(r.json()["kind"] == "Status");
  }

  {  // no selector: the ScaledObject is not named
    Response r = metrics.get(kBase + metric);
    INFO(r.body);
    CHECK(r.code == 400);
    json st = r.json();
    CHECK(st["kind"] == "Status");
    CHECK(st["reason"] == "BadRequest");
    CHECK(st.value("message", "").find("scaledObject name is not specified") != std::string::npos);
  }

  {  // a bad selector
    Response r = metrics.get(kBase + metric + "?labelSelector=%3D%3D%3D");
    INFO(r.body);
    CHECK(r.code == 400);
    CHECK(r.json()["kind"] == "Status");
  }

  {  // discovery: the resource list the aggregator checks
    Response r = metrics.get("/apis/external.metrics.k8s.io/v1beta1");
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.json()["kind"] == "APIResourceList");
    CHECK(r.json()["groupVersion"] == "external.metrics.k8s.io/v1beta1");
  }

  {  // a plain HTTP request on the HTTPS port gets nothing useful
    httplib::Client plain("127.0.0.1", op.metricsPort());
    plain.set_connection_timeout(2);
    plain.set_read_timeout(2);
    auto r = plain.Get(kBase + metric + selector);
    CHECK((!r || r->status != 200));
  }
  CHECK(op.running());
}
