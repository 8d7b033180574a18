-- KEYS: 1 inc hash, 2 updated zset, 3 open zset, 4 timeline list,
--       5 day stats hash, 6 state stats hash, 7 realtime stream,
--       8 event→incident key ("" side effect skipped when ARGV 8 is ""),
--       9 fusion geo set, 10 fusion last-seen zset, 11 reports hash of the incident
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
if ARGV[16] ~= '1' and redis.call('EXISTS', KEYS[12]) == 0 then
  return -1
end
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local v = tonumber(ARGV[2])
if v <= cur then
  return 0
end
local prev = redis.call('HGET', KEYS[1], 'state')
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[4], 'json', ARGV[3])
if ARGV[13] ~= '' then
  redis.call('HSET', KEYS[1], 'case', ARGV[13])
end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('RPUSH', KEYS[4], ARGV[6])
if prev then
  redis.call('HINCRBY', KEYS[6], prev, -1)
end
redis.call('HINCRBY', KEYS[6], ARGV[4], 1)
if ARGV[8] ~= '' then
  if ARGV[17] == '1' then
    redis.call('HINCRBY', KEYS[5], ARGV[8], 1)
  end
  redis.call('SET', KEYS[8], ARGV[1])
  if ARGV[14] ~= '' then
    redis.call('HSET', KEYS[11], ARGV[15], ARGV[14])
  end
end
if ARGV[18] ~= '' then
  redis.call('HDEL', KEYS[11], ARGV[18])
end
if ARGV[10] ~= '' then
  if ARGV[7] == '1' then
    redis.call('GEOADD', KEYS[9], ARGV[10], ARGV[11], ARGV[1])
    local seen = tonumber(redis.call('ZSCORE', KEYS[10], ARGV[1]) or '0')
    if tonumber(ARGV[12]) > seen then
      redis.call('ZADD', KEYS[10], ARGV[12], ARGV[1])
    end
  else
    redis.call('ZREM', KEYS[9], ARGV[1])
    redis.call('ZREM', KEYS[10], ARGV[1])
  end
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[9], '*', 'kind', 'incident', 'data', ARGV[3])
return 1
