-- reap.lua: one bounded batch of reclaiming. Lapsed leases go back to the free set; tokens
-- past their life leave every key. Operations already treat both as lapsed the instant
-- their deadline passes: this only returns memory and keeps the free set honest.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] at most this many lapsed leases, and at most this many dead tokens, per call
--
-- Returns {leasesEnded, tokensExpired}; a count equal to ARGV[1] means more may be waiting.
-- Complexity: O(k log n) for the k <= 2 * ARGV[1] tokens reclaimed; never a scan.
--
--   redis-cli --eval reap.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local batch = tonumber(ARGV[1])

local lapsed = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, tok in ipairs(lapsed) do
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    local life = tonumber(redis.call('ZSCORE', KEYS[3], tok))
    if life and life > now then
        redis.call('SADD', KEYS[1], tok)
    end
end

local dead = redis.call('ZRANGE', KEYS[3], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, tok in ipairs(dead) do
    redis.call('ZREM', KEYS[3], tok)
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
end
return {#lapsed, #dead}
