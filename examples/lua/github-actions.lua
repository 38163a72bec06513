-- Queued GitHub Actions workflow runs of one repository, over GitHub's REST API:
--   GET {apiUrl}/repos/{owner}/{repo}/actions/runs?status=queued&per_page=1  ->  total_count
--
-- metadata: owner, repo (required); apiUrl (default https://api.github.com; GitHub Enterprise:
--           https://HOST/api/v3)
-- auth:     personalAccessToken (a fine-grained token with "Actions: read"; optional for public
--           repositories, but unauthenticated clients get only 60 requests an hour)

-- Percent-encodes everything but RFC 3986's unreserved characters.
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local function required(ctx, key)
  local v = ctx.metadata[key]
  if v == nil or v == "" then error("github-actions: metadata." .. key .. " is required", 0) end
  return v
end

function getMetric(ctx)
  local owner, repo = required(ctx, "owner"), required(ctx, "repo")
  local api = (ctx.metadata.apiUrl or "https://api.github.com"):gsub("/+$", "")
  local url = string.format("%s/repos/%s/%s/actions/runs?status=queued&per_page=1", api,
                            urlencode(owner), urlencode(repo))
  local res = http.get(url, {
    headers = {
      ["Accept"] = "application/vnd.github+json",
      ["X-GitHub-Api-Version"] = "2022-11-28",
    },
    bearerToken = ctx.auth.personalAccessToken,  -- "Authorization: Bearer <token>" when set
    timeout = 5,
  })

  -- Rate limits: 403 or 429 with x-ratelimit-remaining: 0, or a Retry-After (secondary limits).
  local h = res.headers
  if (res.status == 403 or res.status == 429) and
      (h["x-ratelimit-remaining"] == "0" or h["retry-after"] or res.status == 429) then
    local reset = tonumber(h["x-ratelimit-reset"] or "")
    local when = reset and string.format("x-ratelimit-reset %d (in %d s)", reset,
                                         math.max(0, reset - math.floor(time.now())))
                 or "no x-ratelimit-reset header"
    error(string.format("github-actions: rate limited by GitHub (HTTP %d); %s%s", res.status, when,
                        h["retry-after"] and ", retry-after " .. h["retry-after"] .. " s" or ""), 0)
  end
  if res.status ~= 200 then
    local ok, doc = pcall(json.decode, res.body)
    local msg = ok and type(doc) == "table" and doc.message or "no message"
    error(string.format("github-actions: HTTP %d for %s/%s: %s", res.status, owner, repo,
                        tostring(msg)), 0)
  end
  local doc = json.decode(res.body)
  local count = type(doc) == "table" and tonumber(doc.total_count)
  if not count then error("github-actions: the answer has no numeric total_count", 0) end
  return count
end
