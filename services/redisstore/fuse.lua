-- Decide which incident each of a batch of events joins, atomically (so two
-- enrichers deciding at once cannot open two incidents for one fire), in
-- order: an event sees the incidents opened by the events before it, as if
-- each had been decided by a call of its own.
--
-- The index of open incidents is kept per family in cells (fuse.go): an
-- event searches the cells its circle touches and, while it still holds
-- anything, the family's one set of the layout before the cells.
-- KEYS, per event: decision key of the event, family last-seen zset, the
-- cell of the event's point, the family's incident → cell hash, the
-- family's set of the old layout, then the n cells to search.
-- ARGV: 1 decision ttl s; then 7 per event: n, lon, lat, radius m, oldest
-- last-seen ms to join, new incident id, now ms.
-- Returns {incident id, outcome, incident id, outcome, …}: outcome 0 opened
-- the new incident, 1 joined the nearest recent one, 2 decided before.
-- Few redis.call per event (ZMSCORE, ZADD GT: Redis ≥ 6.2): on the embedded
-- Redis each one allocates and parses like a command over the network.
local out = {}
local k, a = 1, 2
local near
local legacyHas = {}
local function search(key, lon, lat, radius)
  local found = redis.call('GEOSEARCH', key, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm', 'ASC', 'COUNT', 20, 'WITHDIST')
  for _, r in ipairs(found) do
    near[#near + 1] = {r[1], tonumber(r[2])}
  end
end
while k <= #KEYS do
  local decision, seenkey, cell, cells, legacy = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local n = tonumber(ARGV[a])
  local lon, lat, radius, oldest, newid, now =
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6])
  local pick = redis.call('GET', decision)
  local outcome = 2
  if not pick then
    near = {}
    for c = 1, n do
      search(KEYS[k + 4 + c], lon, lat, radius)
    end
    if legacyHas[legacy] == nil then -- nothing adds to it: once per call
      legacyHas[legacy] = redis.call('EXISTS', legacy) == 1
    end
    if legacyHas[legacy] then
      search(legacy, lon, lat, radius)
    end
    table.sort(near, function(x, y)
      if x[2] ~= y[2] then
        return x[2] < y[2]
      end
      return x[1] < y[1]
    end)
    local m = math.min(#near, 20)
    if m > 0 then
      local ids = {}
      for j = 1, m do
        ids[j] = near[j][1]
      end
      local seen = redis.call('ZMSCORE', seenkey, unpack(ids))
      for j = 1, m do
        if seen[j] and tonumber(seen[j]) >= oldest then
          pick = ids[j]
          break
        end
      end
    end
    outcome = 1
    if not pick then
      pick = newid
      outcome = 0
      redis.call('GEOADD', cell, lon, lat, pick)
      redis.call('HSET', cells, pick, cell)
    end
    redis.call('ZADD', seenkey, 'GT', now, pick)
    redis.call('SET', decision, pick, 'EX', ARGV[1])
  end
  out[#out + 1] = pick
  out[#out + 1] = outcome
  k = k + 5 + n
  a = a + 7
end
return out
