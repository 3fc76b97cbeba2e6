-- delete.lua: remove a token from the pool for good.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] token
--
-- Returns {'ok'} | {'not_found'} (unknown, or already past its life). Complexity: O(log n).
--
--   redis-cli --eval delete.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , TOKEN
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tok = ARGV[1]

local life = tonumber(redis.call('ZSCORE', KEYS[3], tok))
if not life then
    return {'not_found'}
end
redis.call('ZREM', KEYS[3], tok)
redis.call('SREM', KEYS[1], tok)
redis.call('ZREM', KEYS[2], tok)
redis.call('HDEL', KEYS[4], tok)
if life <= now then
    return {'not_found'}
end
return {'ok'}
