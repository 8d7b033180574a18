-- Removes closed incidents whose last change is older than a cutoff from
-- the read model: the incident, its timeline and fused reports, its place
-- in the updated index, the event → incident links that still point at it
-- and the results of the commands in its timeline. The tasks topic keeps
-- every change (the audit trail); the day and state counters keep counting
-- them. An incident changed since it was listed, or open again, stays.
-- KEYS: 1 updated zset, 2 open zset, then per incident its hash, timeline
-- and reports. ARGV: 1 cutoff ms, 2 the event → incident link keys' prefix,
-- 3 closed states separated by ",", 4 the command result keys' prefix,
-- then the incident ids.
-- Returns the number removed.
local closed = {}
for st in string.gmatch(ARGV[3], '[^,]+') do
  closed[st] = true
end
local n = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local k = 3 + (i - 5) * 3
  local inc, tl, reports = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local score = redis.call('ZSCORE', KEYS[1], id)
  local got = redis.call('HMGET', inc, 'state', 'json')
  if score and tonumber(score) < tonumber(ARGV[1]) and got[1] and closed[got[1]] then
    local function unlink(ev)
      local link = ARGV[2] .. ev
      if redis.call('GET', link) == id then
        redis.call('DEL', link)
      end
    end
    -- Every fused report is in the reports hash; event_ids lists only the
    -- first and latest, but all of an incident fused before reports were kept.
    for _, ev in ipairs(redis.call('HKEYS', reports)) do
      unlink(ev)
    end
    local ok, doc = pcall(cjson.decode, got[2])
    if ok and type(doc) == 'table' and type(doc['event_ids']) == 'table' then
      for _, ev in ipairs(doc['event_ids']) do
        unlink(ev)
      end
    end
    for _, e in ipairs(redis.call('LRANGE', tl, 0, -1)) do
      local okE, entry = pcall(cjson.decode, e)
      if okE and type(entry) == 'table' and type(entry['command_id']) == 'string' and entry['command_id'] ~= '' then
        redis.call('DEL', ARGV[4] .. entry['command_id'])
      end
    end
    redis.call('DEL', inc, tl, reports)
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    n = n + 1
  end
end
return n
