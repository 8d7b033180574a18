-- Applies a batch of lifecycle changes in order, each as described below
-- (a change followed by a later one of the same incident: see apply), and
-- returns one result per change (1 applied, 0 already there, -1 not
-- built). One call per batch: on the embedded Redis every call builds a
-- Lua state, and on a real one every call is a round trip.
-- ARGV[1] is the number of changes; change i (from 0) has KEYS
-- i*14+1 … i*14+14 and ARGV 1+i*18+1 … 1+i*18+18, numbered below from 1.
--
-- KEYS: 1 inc hash, 2 updated zset, 3 open zset, 4 timeline list,
--       5 day stats hash, 6 state stats hash, 7 realtime stream,
--       8 event→incident key ("" side effect skipped when ARGV 8 is ""),
--       9 fusion index cell of the incident's point (fuse.go; when located),
--       10 fusion last-seen zset, 11 reports hash of the incident,
--       13 fusion incident → cell hash, 14 the family's index set of the layout
--       before the cells (emptied as its incidents change)
-- ARGV: 1 id, 2 version, 3 incident json, 4 state, 5 updated ms,
--       6 lifecycle json, 7 open (1/0), 8 source counted today ("" = none),
--       9 stream maxlen, 10 lon, 11 lat ("" = not located), 12 last seen ms,
--       13 case json ("" = none), 14 report json ("" = none)
-- ARGV 15 event id, 17 '1' to count the event in the day's stats (not for a
-- report split out into its own incident: it was counted when it arrived),
-- 18 event id of a report split out of this incident ("" = none).
-- KEYS 12 meta; ARGV 16 '1' when rebuilding. A live write into a store that
-- is not built (flushed) is refused: it would hide the versions the
-- rebuild must replay before it.
-- Few redis.call per change (HMGET, ZADD GT: Redis ≥ 6.2; checks of keys
-- nothing here creates made once per call): on the embedded Redis each
-- one allocates and parses like a command over the network.
local NK, NA = 14, 18
local built, legacyHas = nil, {}
local function legacy(key) -- the old layout's set: only ever emptied
  if legacyHas[key] == nil then
    legacyHas[key] = redis.call('EXISTS', key) == 1
  end
  return legacyHas[key]
end
-- What every change adds, superseded or not: its timeline entry, its
-- report and the report's link, the day's count, a report split out.
local function accumulate(K, A)
  redis.call('RPUSH', K[4], A[6])
  if A[8] ~= '' then
    if A[17] == '1' then
      redis.call('HINCRBY', K[5], A[8], 1)
    end
    redis.call('SET', K[8], A[1])
    if A[14] ~= '' then
      redis.call('HSET', K[11], A[15], A[14])
    end
  end
  if A[18] ~= '' then
    redis.call('HDEL', K[11], A[18])
  end
end
-- superseded: the next change of the batch is a later version of the same
-- incident (an incident opened and dispatched in one batch). Then only what
-- accumulates is written here (timeline, links, reports, the day's count,
-- the case); the snapshot, indexes, state counts (prev → the later state,
-- the same net) and the delta are the later change's.
local function apply(K, A, superseded)
  if A[16] ~= '1' then
    if built == nil then
      built = redis.call('EXISTS', K[12]) == 1
    end
    if not built then
      return -1
    end
  end
  local got = redis.call('HMGET', K[1], 'version', 'state')
  local cur = tonumber(got[1] or '0')
  local v = tonumber(A[2])
  if v <= cur then
    return 0
  end
  if superseded then
    if A[13] ~= '' then
      redis.call('HSET', K[1], 'case', A[13])
    end
    accumulate(K, A)
    return 1
  end
  local prev = got[2]
  if A[13] ~= '' then
    redis.call('HSET', K[1], 'version', A[2], 'state', A[4], 'json', A[3], 'case', A[13])
  else
    redis.call('HSET', K[1], 'version', A[2], 'state', A[4], 'json', A[3])
  end
  redis.call('ZADD', K[2], A[5], A[1])
  if A[7] == '1' then
    redis.call('ZADD', K[3], A[5], A[1])
  else
    redis.call('ZREM', K[3], A[1])
  end
  if prev ~= A[4] then
    if prev then
      redis.call('HINCRBY', K[6], prev, -1)
    end
    redis.call('HINCRBY', K[6], A[4], 1)
  end
  accumulate(K, A)
  local was = redis.call('HGET', K[13], A[1])
  if A[7] == '1' then
    if A[10] ~= '' then
      if was ~= K[9] then
        if was then
          redis.call('ZREM', was, A[1]) -- moved to another cell
        end
        redis.call('HSET', K[13], A[1], K[9])
      end
      if legacy(K[14]) then
        redis.call('ZREM', K[14], A[1])
      end
      redis.call('GEOADD', K[9], A[10], A[11], A[1])
      if tonumber(A[12]) > 0 then
        redis.call('ZADD', K[10], 'GT', A[12], A[1])
      end
    end
  else
    if was then
      redis.call('ZREM', was, A[1])
      redis.call('HDEL', K[13], A[1])
    end
    if legacy(K[14]) then
      redis.call('ZREM', K[14], A[1])
    end
    redis.call('ZREM', K[10], A[1])
  end
  redis.call('XADD', K[7], 'MAXLEN', '~', A[9], '*', 'kind', 'incident', 'data', A[3])
  return 1
end
local out = {}
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local K, A = {}, {}
  for k = 1, NK do K[k] = KEYS[i * NK + k] end
  for a = 1, NA do A[a] = ARGV[1 + i * NA + a] end
  local superseded = i + 1 < n and KEYS[(i + 1) * NK + 1] == K[1] and tonumber(ARGV[1 + (i + 1) * NA + 2]) > tonumber(A[2])
  out[#out + 1] = apply(K, A, superseded)
end
return out
