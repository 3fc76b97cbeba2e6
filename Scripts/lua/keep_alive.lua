-- keep_alive.lua: push a token's life to now + keep-alive TTL, and an assigned token's
-- lease to now + lease TTL. Needs prelude.lua (KEYS 1-8).
--
-- ARGV[1] token
-- ARGV[2] expected lease number, or '' for any (see unblock.lua)
-- ARGV[3] lease TTL in ms
-- ARGV[4] keep-alive TTL in ms
--
-- Returns record(...) (see prelude.lua) | {'not_found'} | {'conflict'}. A conflict changes
-- nothing. Complexity: O(log n).
--
--   redis-cli --eval <(cat prelude.lua keep_alive.lua) 'tokenpool:{default}:free' 'tokenpool:{default}:leases' \
--     'tokenpool:{default}:alive' 'tokenpool:{default}:lease' 'tokenpool:{default}:seq' \
--     'tokenpool:{default}:queue' 'tokenpool:{default}:waiters' 'tokenpool:{default}:handed' , TOKEN '' 60000 300000
local tok = ARGV[1]
local _, leaseUntil, current, refusal = openToken(tok, ARGV[2])
if refusal then
    return refusal
end

local newLife = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[3], 'XX', newLife, tok)
if current then
    local newLease = now + tonumber(ARGV[3])
    redis.call('ZADD', KEYS[2], 'XX', newLease, tok)
    return record(tok, newLife, newLease, current)
end
if leaseUntil then
    -- The lease lapsed before this keep-alive: the token is free again.
    release(tok, newLife)
end
return record(tok, newLife)
