-- A number from any JSON endpoint, like KEDA's metrics-api scaler:
--   GET {url}  ->  the value at valueLocation
--
-- metadata: url (required), valueLocation (required): a dotted path such as
--           "queues.orders.depth" or "items.0.count" (array indexes count from 0, as in GJSON);
--           the value may be a number or a numeric string ("42", "1.5e3")
-- auth:     token (Authorization: Bearer), or username + password (basic), or apiKey
--           (sent in the header named by metadata.apiKeyHeader, default X-API-Key)

-- Walks `doc` along the dotted `path`; on a missing step says which one.
local function lookup(doc, path)
  local node, walked = doc, {}
  for step in path:gmatch("[^.]+") do
    if type(node) ~= "table" then
      error(string.format("json-endpoint: valueLocation '%s': '%s' is a %s, not an object",
                          path, table.concat(walked, "."), type(node)), 0)
    end
    local nextNode = node[step]
    if nextNode == nil and step:match("^%d+$") then nextNode = node[tonumber(step) + 1] end
    if nextNode == nil then
      error(string.format("json-endpoint: valueLocation '%s': no '%s'%s", path, step,
                          #walked > 0 and " in '" .. table.concat(walked, ".") .. "'" or ""), 0)
    end
    walked[#walked + 1] = step
    node = nextNode
  end
  return node
end

function getMetric(ctx)
  local m, auth = ctx.metadata, ctx.auth
  local url = m.url or error("json-endpoint: metadata.url is required", 0)
  local path = m.valueLocation or error("json-endpoint: metadata.valueLocation is required", 0)

  local opts = { headers = { Accept = "application/json" }, timeout = 3 }
  if auth.token then
    opts.bearerToken = auth.token
  elseif auth.username then
    opts.basicAuth = { username = auth.username, password = auth.password or "" }
  elseif auth.apiKey then
    opts.headers[m.apiKeyHeader or "X-API-Key"] = auth.apiKey
  end

  local res = http.get(url, opts)
  if res.status < 200 or res.status > 299 then
    error(string.format("json-endpoint: HTTP %d from the endpoint", res.status), 0)
  end
  local ok, doc = pcall(json.decode, res.body)
  if not ok then error("json-endpoint: the answer is not JSON", 0) end

  local v = lookup(doc, path)
  local n = tonumber(v)
  if type(v) == "boolean" or n == nil or n ~= n then
    error(string.format("json-endpoint: valueLocation '%s' is %s, not a number", path,
                        type(v) == "string" and string.format("%q", v) or type(v)), 0)
  end
  return n
end
