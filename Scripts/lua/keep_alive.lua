-- keep_alive.lua: push a token's life to now + keep-alive TTL, and an assigned token's
-- lease to now + lease TTL.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any (see unblock.lua)
-- ARGV[3] lease TTL in ms
-- ARGV[4] keep-alive TTL in ms
--
-- Returns {'ok', token, expiresAt, leaseExpiresAt|false, lease|false} | {'not_found'} | {'conflict'}
-- A conflict changes nothing. Complexity: O(log n).
--
--   redis-cli --eval keep_alive.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , TOKEN '' 60000 300000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tok = ARGV[1]

local life = tonumber(redis.call('ZSCORE', KEYS[3], tok))
if not life then
    return {'not_found'}
end
if life <= now then
    redis.call('ZREM', KEYS[3], tok)
    redis.call('SREM', KEYS[1], tok)
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    return {'not_found'}
end

local leaseUntil = tonumber(redis.call('ZSCORE', KEYS[2], tok))
local current = nil
if leaseUntil and leaseUntil > now then
    current = tonumber(redis.call('HGET', KEYS[4], tok))
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then
    return {'conflict'}
end

local newLife = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[3], 'XX', newLife, tok)
if current then
    local newLease = now + tonumber(ARGV[3])
    redis.call('ZADD', KEYS[2], 'XX', newLease, tok)
    return {'ok', tok, newLife, newLease, current}
end
if leaseUntil then
    -- The lease lapsed before this keep-alive: the token is free again.
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    redis.call('SADD', KEYS[1], tok)
end
return {'ok', tok, newLife, false, false}
