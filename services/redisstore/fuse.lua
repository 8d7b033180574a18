-- Decide which incident an event joins, atomically (so two enrichers
-- deciding at once cannot open two incidents for one fire).
-- KEYS: 1 decision key of the event, 2 family geo set, 3 family last-seen zset
-- ARGV: 1 lon, 2 lat, 3 radius m, 4 oldest last-seen ms to join, 5 new incident id,
--       6 now ms, 7 decision ttl s
-- Returns {incident id, joined (1/0)}.
local prev = redis.call('GET', KEYS[1])
if prev then
  return {prev, 2}
end
local near = redis.call('GEOSEARCH', KEYS[2], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', 20)
local pick = nil
for _, id in ipairs(near) do
  local seen = redis.call('ZSCORE', KEYS[3], id)
  if seen and tonumber(seen) >= tonumber(ARGV[4]) then
    pick = id
    break
  end
end
local joined = 1
if not pick then
  pick = ARGV[5]
  joined = 0
  redis.call('GEOADD', KEYS[2], ARGV[1], ARGV[2], pick)
end
local cur = tonumber(redis.call('ZSCORE', KEYS[3], pick) or '0')
if tonumber(ARGV[6]) > cur then
  redis.call('ZADD', KEYS[3], ARGV[6], pick)
end
redis.call('SET', KEYS[1], pick, 'EX', ARGV[7])
return {pick, joined}
