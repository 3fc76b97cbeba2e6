-- rate.lua: one request of an API key against its rate, shared by every replica: a generic cell
-- rate algorithm (GCRA) on one key. Not a pool's script: prelude.lua is loaded with it but unused.
--
-- KEYS[1] the key's rate state: a string, the theoretical arrival time (µs, Redis clock) of its
--         next request, expiring once it is in the past
-- ARGV[1] the interval between requests at the steady rate, µs (1e6 / perSecond)
-- ARGV[2] the burst: how many requests may come at once after a rest
--
-- Returns {1, 0} when the request may go on (and counts it), {0, RETRY} when it is over the
-- rate (and does not count it): RETRY the ms until one more would be allowed. O(1).
--
--   redis-cli --eval rate.lua 'tokenpool:rate:crawler' , 20000 10
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
    tat = now
end
local nextTat = tat + interval
local allowedAt = nextTat - burst * interval
if allowedAt > now then
    return {0, math.ceil((allowedAt - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%d', nextTat), 'PX', math.ceil((nextTat - now) / 1000) + 1)
return {1, 0}
