"""The Lua scripts the Redis store runs: each is one atomic round trip on the server.

Only plain commands (GET/SET/HSET/HMGET/ZADD/ZPOPMIN/PEXPIRE/INCR/DEL) inside EVAL, so the same
scripts run on Redis ≥ 6.2 and on Valkey. Some scripts touch keys they build from the prefix (the
conversations evicted by the size bound, say), which a single Redis or Valkey server allows but
Redis Cluster does not: the store targets one primary (with replicas/AOF for durability), not a
sharded cluster.

Numbers cross the Lua boundary as strings: Lua would truncate a returned float to an integer.
"""

from __future__ import annotations

# KEYS: lease, fence counter. ARGV: lease ms.
# Returns the new fencing token (> 0) when the lease was free, else 0. The token comes from one
# counter for the whole deployment, so a later holder always carries a larger token.
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""

# KEYS: lease. ARGV: token, lease ms. 1 if still ours (and extended), else 0.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: token. Deletes the lease only if it is still ours (never a newer holder's).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# One step's write: the state and (optionally) its step record, fenced, plus both size bounds.
# KEYS: conversation hash, lease, conversations zset, steps zset, [step hash]
# ARGV: 1 conversation id, 2 token, 3 now, 4 state blob, 5 last step id ('' none), 6 ttl ms,
#       7 max conversations, 8 key prefix, 9 max steps, 10 '1' to release the lease after writing,
#       [11 step id, 12 tier, 13 policy version, 14 decision blob]
# Returns {1, token} written; {-1, holder} the lease is not ours (holder: '' or its token);
# {-2, fence} a newer holder already wrote this conversation (fence: its token).
WRITE = """
local token = tonumber(ARGV[2])
local fence = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
if fence > token then return {-2, tostring(fence)} end
local holder = redis.call('GET', KEYS[2])
if holder ~= ARGV[2] then return {-1, holder or ''} end
local now, ttl = ARGV[3], tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 's', ARGV[4], 't', now, 'f', ARGV[2], 'ls', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[3], now, ARGV[1])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
if excess > 0 then
  local old = redis.call('ZPOPMIN', KEYS[3], excess)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[8] .. 'c:' .. old[i]) end
end
if #KEYS >= 5 then
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], 'c', ARGV[1], 't', now, 'd', ARGV[14], 'tier', ARGV[12], 'pv', ARGV[13])
  redis.call('PEXPIRE', KEYS[5], ttl)
  redis.call('ZADD', KEYS[4], now, ARGV[11])
  local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[9])
  if extra > 0 then
    local old = redis.call('ZPOPMIN', KEYS[4], extra)
    for i = 1, #old, 2 do redis.call('DEL', ARGV[8] .. 's:' .. old[i]) end
  end
end
if ARGV[10] == '1' then redis.call('DEL', KEYS[2]) end
return {1, ARGV[2]}
"""

# A step record without a state write (`save_step`). KEYS: step hash, steps zset.
# ARGV: step id, conversation id, now, tier, policy version, decision blob, ttl ms, max steps, prefix
SAVE_STEP = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'c', ARGV[2], 't', ARGV[3], 'd', ARGV[6], 'tier', ARGV[4], 'pv', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[8])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[9] .. 's:' .. old[i]) end
end
return 1
"""

# State and its last step in one read. KEYS: conversation hash. ARGV: prefix, cutoff.
# Returns {} (none or expired), {state blob}, or {state blob, c, t, d, r, fa} of the last step.
LOAD_WITH_LAST = """
local row = redis.call('HMGET', KEYS[1], 's', 't', 'ls')
if not row[1] or tonumber(row[2]) < tonumber(ARGV[2]) then return {} end
if not row[3] or row[3] == '' then return {row[1]} end
local step = redis.call('HMGET', ARGV[1] .. 's:' .. row[3], 'c', 't', 'd', 'r', 'fa')
if not step[1] or tonumber(step[2]) < tonumber(ARGV[2]) then return {row[1]} end
return {row[1], step[1], step[2], step[3], step[4] or '', step[5] or ''}
"""

# KEYS: step hash. ARGV: reward, now, cutoff. Returns {c, t, d, r, fa} or {} (unknown/expired).
FEEDBACK = """
local step = redis.call('HMGET', KEYS[1], 'c', 't', 'd')
if not step[1] or tonumber(step[2]) < tonumber(ARGV[3]) then return {} end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'fa', ARGV[2])
return {step[1], step[2], step[3], ARGV[1], ARGV[2]}
"""

# The TTL sweep. KEYS: conversations zset, steps zset. ARGV: cutoff, prefix.
# Returns how many conversations were removed.
SWEEP = """
local removed = 0
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, cid in ipairs(old) do removed = removed + redis.call('DEL', ARGV[2] .. 'c:' .. cid) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local steps = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, sid in ipairs(steps) do redis.call('DEL', ARGV[2] .. 's:' .. sid) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
return removed
"""

# A windowed counter (state/counters.py). KEYS: counter hash. ARGV: amount, limit ('' none),
# expires_at, now. Returns {added 1/0, total as a string}.
TAKE = """
local amount, now = tonumber(ARGV[1]), tonumber(ARGV[4])
local row = redis.call('HMGET', KEYS[1], 'v', 'e')
local current = 0
if row[1] and tonumber(row[2]) > now then current = tonumber(row[1]) end
if ARGV[2] ~= '' and current + amount > tonumber(ARGV[2]) then
  return {0, string.format('%.17g', current)}
end
local total = current + amount
if amount ~= 0 then
  local expires = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'v', string.format('%.17g', total), 'e', ARGV[3])
  -- Relative expiry: the window ends (expires_at - now) from now by the gateway's clock.
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((expires - now) * 1000)))
end
return {1, string.format('%.17g', total)}
"""
