-- The wall's mode (normal / emergency), changed atomically with its delta.
-- KEYS: 1 mode hash, 2 realtime stream, 3 mode log list
-- ARGV: 1 op: "set" (a person, or a restore), "open" (automatic: only from
--       normal), "close" (automatic: only an automatic emergency of the
--       incident ARGV 7), 2 new mode json, 3 new mode, 4 new auto (1/0),
--       5 new incident id, 6 stream maxlen, 7 the incident that ended (close),
--       8 set: the automatic switch is held off until then (unix ms, 0 none);
--         open: the time of the change that triggers it (unix ms),
--       9 open: "1" when the trigger overrides a hold (severity I, a red warning)
local cur = redis.call('HGET', KEYS[1], 'mode') or 'normal'
local curAuto = redis.call('HGET', KEYS[1], 'auto') or '0'
local curInc = redis.call('HGET', KEYS[1], 'incident_id') or ''
if ARGV[1] == 'open' and cur ~= 'normal' then
  return 0
end
if ARGV[1] == 'open' and ARGV[9] ~= '1' and tonumber(redis.call('HGET', KEYS[1], 'hold_until') or '0') > tonumber(ARGV[8]) then
  return 0
end
if ARGV[1] == 'close' and (cur ~= 'emergency' or curAuto ~= '1' or curInc ~= ARGV[7]) then
  return 0
end
redis.call('HSET', KEYS[1], 'mode', ARGV[3], 'auto', ARGV[4], 'incident_id', ARGV[5], 'json', ARGV[2])
if ARGV[1] == 'set' then
  redis.call('HSET', KEYS[1], 'hold_until', ARGV[8])
end
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, 199)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'mode', 'data', ARGV[2])
return 1
