-- Queue depth over RabbitMQ's management HTTP API (the rabbitmq_management plugin):
--   GET {host}/api/queues/{vhost}/{queueName}   (basic auth)
-- like KEDA's rabbitmq scaler in QueueLength mode over HTTP.
--
-- metadata: host (e.g. http://rabbitmq:15672; may also come from auth), queueName (required),
--           vhost (default "/"), mode: QueueLength (default: `messages`, ready + unacknowledged)
--           or MessagesReady (`messages_ready` only, as KEDA's excludeUnacknowledged: "true")
-- auth:     username, password (a user with the "monitoring" tag is enough); host

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local FIELDS = { QueueLength = "messages", MessagesReady = "messages_ready" }

function getMetric(ctx)
  local m = ctx.metadata
  local host = (ctx.auth.host or m.host or error("rabbitmq: metadata.host is required", 0))
  local queue = m.queueName or error("rabbitmq: metadata.queueName is required", 0)
  local vhost = m.vhost or "/"
  local mode = m.mode or "QueueLength"
  local field = FIELDS[mode]
  if not field then
    error("rabbitmq: mode must be QueueLength or MessagesReady, not '" .. mode .. "'", 0)
  end

  local opts = { timeout = 5 }
  if ctx.auth.username then
    opts.basicAuth = { username = ctx.auth.username, password = ctx.auth.password or "" }
  end
  local url = string.format("%s/api/queues/%s/%s", host:gsub("/+$", ""), urlencode(vhost),
                            urlencode(queue))
  local res = http.get(url, opts)
  if res.status == 404 then
    error(string.format("rabbitmq: no queue '%s' in vhost '%s'", queue, vhost), 0)
  elseif res.status == 401 then
    error("rabbitmq: the management API refused the credentials (HTTP 401)", 0)
  elseif res.status ~= 200 then
    error(string.format("rabbitmq: HTTP %d for queue '%s'", res.status, queue), 0)
  end
  local q = json.decode(res.body)
  -- A queue declared a moment ago has no statistics yet: count it as empty, as KEDA does.
  return tonumber(q[field]) or 0
end
