-- An HTTP request rate (or any single number) from Prometheus' query API:
--   GET {serverAddress}/api/v1/query?query=<query>
--
-- metadata: serverAddress (required), query (default: the per-second rate of
--           http_requests_total over 1m, summed), ignoreNullValues (default "true": an empty
--           result or NaN counts as 0, as in KEDA's prometheus scaler; "false": an error)
-- auth:     bearerToken, or username + password (basic)
--
-- Result shapes: a vector with one sample, a scalar, or an empty vector; more than one series
-- is an error (wrap the query in sum(...)).

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- Prometheus writes sample values as strings: "12.5", "NaN", "+Inf", "-Inf".
local function sampleValue(s)
  if s == "NaN" then return 0 / 0 end
  if s == "+Inf" then return math.huge end
  if s == "-Inf" then return -math.huge end
  return tonumber(s) or error("prometheus-rate: sample value '" .. tostring(s) .. "' is not a number", 0)
end

function getMetric(ctx)
  local m, auth = ctx.metadata, ctx.auth
  local server = m.serverAddress or error("prometheus-rate: metadata.serverAddress is required", 0)
  local query = m.query or "sum(rate(http_requests_total[1m]))"
  local ignoreNull = (m.ignoreNullValues or "true"):lower() ~= "false"

  local opts = { timeout = 3 }
  if auth.bearerToken then
    opts.bearerToken = auth.bearerToken
  elseif auth.username then
    opts.basicAuth = { username = auth.username, password = auth.password or "" }
  end
  local res = http.get(server:gsub("/+$", "") .. "/api/v1/query?query=" .. urlencode(query), opts)
  local ok, doc = pcall(json.decode, res.body)
  if not ok or type(doc) ~= "table" then
    error(string.format("prometheus-rate: HTTP %d with a body that is not JSON", res.status), 0)
  end
  if res.status ~= 200 or doc.status ~= "success" then
    error(string.format("prometheus-rate: HTTP %d: %s: %s", res.status, tostring(doc.errorType),
                        tostring(doc.error)), 0)
  end

  local data = doc.data
  local value
  if data.resultType == "scalar" then
    value = sampleValue(data.result[2])
  elseif data.resultType == "vector" then
    local n = #data.result
    if n == 0 then
      if ignoreNull then return 0 end
      error("prometheus-rate: the query returned no series (empty result)", 0)
    elseif n > 1 then
      error(string.format("prometheus-rate: the query returned %d series; wrap it in sum(...)", n), 0)
    end
    value = sampleValue(data.result[1].value[2])
  else
    error("prometheus-rate: unsupported resultType '" .. tostring(data.resultType) .. "'", 0)
  end

  if value ~= value then  -- NaN
    if ignoreNull then return 0 end
    error("prometheus-rate: the query returned NaN", 0)
  end
  if value == math.huge or value == -math.huge then
    error("prometheus-rate: the query returned an infinite value", 0)
  end
  return value
end
