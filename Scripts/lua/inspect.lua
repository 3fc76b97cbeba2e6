-- inspect.lua: read one token's state without changing anything.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] token
--
-- Returns {'ok', token, expiresAt, leaseExpiresAt|false, lease|false} | {'not_found'}
-- A token past its life is not found; one whose lease lapsed is free. Complexity: O(log n).
--
--   redis-cli --eval inspect.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , TOKEN
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tok = ARGV[1]

local life = tonumber(redis.call('ZSCORE', KEYS[3], tok))
if not life or life <= now then
    return {'not_found'}
end
local leaseUntil = tonumber(redis.call('ZSCORE', KEYS[2], tok))
if leaseUntil and leaseUntil > now then
    return {'ok', tok, life, leaseUntil, tonumber(redis.call('HGET', KEYS[4], tok))}
end
return {'ok', tok, life, false, false}
