-- unblock.lua: make an assigned token free again. Unblocking a free token is a no-op.
--
-- KEYS[1] free  KEYS[2] leases  KEYS[3] alive  KEYS[4] lease  KEYS[5] seq   (as in assign.lua)
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any. When given it must be the current lease:
--         a free token (or one whose lease lapsed) has none, so that is a conflict too.
--
-- Returns {'ok', token, expiresAt, false, false} | {'not_found'} | {'conflict'}
-- A conflict changes nothing. Complexity: O(log n).
--
--   redis-cli --eval unblock.lua 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' , TOKEN ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tok = ARGV[1]

local life = tonumber(redis.call('ZSCORE', KEYS[3], tok))
if not life then
    return {'not_found'}
end
if life <= now then
    -- Past its life: gone for good, whatever the reaper has done so far.
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

if leaseUntil then
    redis.call('ZREM', KEYS[2], tok)
    redis.call('HDEL', KEYS[4], tok)
    redis.call('SADD', KEYS[1], tok)
end
return {'ok', tok, life, false, false}
