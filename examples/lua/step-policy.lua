-- A scaling policy with step rules, separate up and down cooldowns (kedacore/keda#2614) and a
-- business-hours minimum. Used by policy-scaledobject.yaml (updraft.dev/policy-file).
--
-- The engine proposes replicas (KEDA's activation and scale-to-zero, the HPA's desired count at
-- every sync); this policy returns what the target gets:
--   * up:   at most UP_STEP replicas at a time, then nothing more up for UP_COOLDOWN seconds;
--   * down: at most DOWN_STEP replica at a time, then nothing more down for DOWN_COOLDOWN seconds;
--   * at least BUSINESS_MIN replicas from OPEN_HOUR to CLOSE_HOUR in ZONE, Monday to Friday
--     (also when the triggers are idle: the engine asks the policy at 0 replicas too).
-- The engine clamps the result to [minReplicaCount, maxReplicaCount].

local UP_STEP, UP_COOLDOWN = 4, 60
local DOWN_STEP, DOWN_COOLDOWN = 1, 300
local ZONE, OPEN_HOUR, CLOSE_HOUR, BUSINESS_MIN = "Europe/Paris", 8, 18, 2

-- The minimum at epoch seconds t.
local function minimumAt(t)
  local p = time.parts(t, ZONE)
  local weekday = p.wday >= 2 and p.wday <= 6 -- wday 1 is Sunday, as os.date
  if weekday and p.hour >= OPEN_HOUR and p.hour < CLOSE_HOUR then return BUSINESS_MIN end
  return 0
end

-- Seconds since t (a huge number when it never happened).
local function since(t, now)
  if t == nil then return math.huge end
  return now - t
end

function policy(ctx)
  local current = ctx.current
  local floor = minimumAt(ctx.now) -- ctx.now: the engine's clock (virtual under simulate)
  local want = math.max(ctx.proposed, floor)
  local result = current
  if want > current and since(ctx.lastScaleUp, ctx.now) >= UP_COOLDOWN then
    result = math.min(want, current + UP_STEP)
  elseif want < current and since(ctx.lastScaleDown, ctx.now) >= DOWN_COOLDOWN then
    result = math.max(want, current - DOWN_STEP)
  end
  -- The business-hours minimum wins over the cooldowns (BUSINESS_MIN <= UP_STEP, so the step
  -- rule still holds).
  return math.max(result, floor)
end

-- Run before a new version replaces the running one: a wrong zone name refuses the version.
function check()
  return minimumAt(0) == 0
end
