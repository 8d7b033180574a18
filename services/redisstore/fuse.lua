-- Decide which incident each of a batch of events joins, atomically (so two
-- enrichers deciding at once cannot open two incidents for one fire), in
-- order: an event sees the incidents opened by the events before it, as if
-- each had been decided by a call of its own.
-- KEYS, 3 per event (i = 0, 1, …): 3i+1 decision key of the event,
--   3i+2 family geo set, 3i+3 family last-seen zset
-- ARGV: 1 decision ttl s; then 6 per event from 6i+2: lon, lat, radius m,
--   oldest last-seen ms to join, new incident id, now ms
-- Returns {incident id, outcome, incident id, outcome, …}: outcome 0 opened
-- the new incident, 1 joined one nearby, 2 decided before (same answer).
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local decision, geo, seenkey = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local a = 6 * i + 1
  local lon, lat, radius, oldest, newid, now =
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6])
  local pick = redis.call('GET', decision)
  local outcome = 2
  if not pick then
    local near = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm', 'ASC', 'COUNT', 20)
    for _, id in ipairs(near) do
      local seen = redis.call('ZSCORE', seenkey, id)
      if seen and tonumber(seen) >= oldest then
        pick = id
        break
      end
    end
    outcome = 1
    if not pick then
      pick = newid
      outcome = 0
      redis.call('GEOADD', geo, lon, lat, pick)
    end
    local cur = tonumber(redis.call('ZSCORE', seenkey, pick) or '0')
    if now > cur then
      redis.call('ZADD', seenkey, now, pick)
    end
    redis.call('SET', decision, pick, 'EX', ARGV[1])
  end
  out[#out + 1] = pick
  out[#out + 1] = outcome
end
return out
